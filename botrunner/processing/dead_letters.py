"""The dead-letter stream from the operator's side: list, replay into the lanes, drop.

`Completion.dead_letter` writes one entry per update that failed MAX_ATTEMPTS times (fields
update_id, update, error, attempts, lane, at). Replaying moves an entry back into a lane as intake
would have written it (fields update_id, update), onto the lane its chat maps to under the current
LANES, and deletes it from the dead-letter stream right after, so an entry is never in neither (a
crash between the two leaves it in both; see below). The replayed entry has a new stream id, so its
attempts count starts again at zero; replies it already sent are skipped by the sender's journal.
Dropping deletes entries for good.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from botrunner.intake.store import lane_for
from botrunner.redis_keys import Keys
from botrunner.redis_replies import text

# Replay is two steps, because the dead stream and the lane have slots of their own: XADD to the lane,
# then XDEL from the dead stream. A crash between leaves the entry in both: replaying it again adds a
# second lane entry, which the completion marker of the first makes a no-op (never in neither).


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered update as `dead list` shows it."""

    id: str
    update_id: int
    lane: int
    attempts: int
    at_ms: int
    error: str
    update: str

    @property
    def last_error_line(self) -> str:
        lines = [line for line in self.error.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else "unknown error"


def _letter(entry_id: bytes | str, fields: dict) -> DeadLetter:
    f = {text(k): text(v) for k, v in fields.items()}
    return DeadLetter(text(entry_id), int(f.get("update_id", 0)), int(f.get("lane", 0)),
                      int(f.get("attempts", 0)), int(f.get("at", 0)), f.get("error", ""), f.get("update", "{}"))


class DeadLetters:
    """The dead-letter stream of one bot."""

    def __init__(self, client: redis.Redis, keys: Keys, lanes: int) -> None:
        self.client = client
        self.keys = keys
        self.lanes = lanes

    def count(self) -> int:
        length: Any = self.client.xlen(self.keys.dead)
        return int(length)

    def list(self, limit: int = 20, oldest_first: bool = True) -> list[DeadLetter]:
        """Up to `limit` entries, oldest first (or newest first)."""
        read = self.client.xrange if oldest_first else self.client.xrevrange
        entries: Any = read(self.keys.dead, count=limit)
        return [_letter(i, f) for i, f in entries]

    def get(self, entry_id: str) -> DeadLetter | None:
        found: Any = self.client.xrange(self.keys.dead, min=entry_id, max=entry_id)
        return _letter(*found[0]) if found else None

    def all_ids(self, batch: int = 500) -> Iterator[str]:
        start = "-"
        while True:
            entries: Any = self.client.xrange(self.keys.dead, min=start, max="+", count=batch)
            if not entries:
                return
            yield from (text(i) for i, _ in entries)
            start = "(" + text(entries[-1][0])

    def replay(self, entry_id: str) -> int | None:
        """Move one entry back into its lane; the lane number, or None when no such entry exists."""
        letter = self.get(entry_id)
        if letter is None:
            return None
        try:
            lane = lane_for(json.loads(letter.update), self.lanes)
        except (ValueError, AttributeError):
            lane = letter.lane % self.lanes     # an unparseable update keeps its old lane; it will fail again
        self.client.xadd(self.keys.lane(lane), {"update_id": letter.update_id, "update": letter.update})
        self.client.xdel(self.keys.dead, entry_id)
        return lane

    def drop(self, entry_id: str) -> bool:
        return bool(self.client.xdel(self.keys.dead, entry_id))
