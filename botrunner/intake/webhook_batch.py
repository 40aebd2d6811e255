"""Coalescing webhook stores: updates POSTed at the same moment share one intake script call.

Under a burst a worker holds many POSTs at once; instead of one Redis round trip each, the first
starts a flush and everything that arrives while a call is in flight goes into the next one
(up to MAX_BATCH). A lone POST is stored at once, as before. Each POST is still answered only
after the call carrying its update returned: durability before 200 is unchanged, and a POST that
gives up (timeout: 503) may still have been stored, which Telegram's retry then finds as a
duplicate and is answered 200.
"""
from __future__ import annotations

import asyncio
from collections import Counter

from botrunner.intake.store import Intake

MAX_BATCH = 200
Entry = tuple[int, int, str]        # (update_id, lane, raw json), as prepare() builds them


class CoalescingIntake:
    """One flusher per worker; callers await the flush that carries their entry."""

    def __init__(self, intake: Intake, counts: Counter[str]) -> None:
        self.intake = intake
        self.counts = counts
        self.pending: list[tuple[Entry, asyncio.Future]] = []
        self.flusher: asyncio.Task | None = None
        self.calls = 0                       # script calls made (for tests and curiosity)

    async def store(self, entry: Entry) -> None:
        """Return once `entry` is durable (new or already seen); raise what the script call raised."""
        done = asyncio.get_running_loop().create_future()
        self.pending.append((entry, done))
        if self.flusher is None:
            self.flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                await self._store(batch)
        finally:
            self.flusher = None

    async def _store(self, batch: list[tuple[Entry, asyncio.Future]]) -> None:
        entries = list({entry[0]: entry for entry, _ in batch}.values())   # one POST retried twice at once
        self.calls += 1
        try:
            added = await self.intake.store_unleased(entries)
        except Exception as exc:             # Redis down, timeout: every caller of this batch answers 503
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        self.counts["stored"] += added
        self.counts["duplicate"] += len(batch) - added
        for _, done in batch:
            if not done.done():
                done.set_result(None)
