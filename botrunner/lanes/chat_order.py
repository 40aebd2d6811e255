"""Per-chat ordering inside one worker: jobs of one chat run one after another, chats concurrently.

A lane's entries arrive in stream order; `ChatQueues` keeps a FIFO per chat and runs the chats that
have work on at most `concurrency` runner tasks: a chat is ready (waiting its turn) or held by one
runner, never both, so its jobs run one at a time in order; a runner takes the next ready chat, runs
one job of it and puts the chat back at the end of the turn order if it has more, so chat A's slow
handler never delays chat B, and a burst costs a deque append per job rather than a task per chat
waiting on a semaphore. It also tracks which lane
every job belongs to, so a lane being handed over can drop its not-yet-started jobs (they stay
pending in Redis for the next owner; `on_drop` sees them, in case Redis lost them) and wait for
its running ones, and which entry ids it holds
(queued or running): an entry pending under this worker but not held here was never seen by it.
"""
from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from loguru import logger


@dataclass
class Job:
    """One stream entry to handle."""

    lane: int
    chat: Hashable
    entry_id: str
    fields: dict[Any, Any]
    data: Any = None        # the update as decoded when it was read (None: the processor decodes it)


class ChatQueues:
    """Runs `run(job)` for submitted jobs: in order per chat, concurrently across chats."""

    def __init__(self, run: Callable[[Job], Awaitable[None]], capacity: int = 1000, concurrency: int = 64) -> None:
        self.run = run
        self.capacity = capacity
        self.concurrency = concurrency                   # chats handled at once (bounds Redis/HTTP use)
        self.queues: dict[Hashable, deque[Job]] = {}     # chats ready or held by a runner: their queued jobs
        self.ready: deque[Hashable] = deque()            # chats with a job to run and no runner, in turn order
        self.runners: set[asyncio.Task] = set()
        self.per_lane: Counter[int] = Counter()          # queued + running jobs per lane
        self.held: set[str] = set()                      # entry ids queued or running
        self.size = 0
        self._changed = asyncio.Condition()
        self.on_drop: Callable[[list[Job]], None] = lambda jobs: None   # the reader keeps them (lanes.salvage)

    @property
    def free(self) -> int:
        """How many more jobs fit before the reader should wait."""
        return max(0, self.capacity - self.size)

    def submit(self, job: Job) -> None:
        """Queue a job behind earlier jobs of the same chat."""
        queue = self.queues.get(job.chat)
        if queue is None:                                # neither ready nor held: its turn comes
            queue = self.queues[job.chat] = deque()
            self.ready.append(job.chat)
            if len(self.runners) < self.concurrency:
                self.runners.add(asyncio.create_task(self._runner()))
        queue.append(job)
        self.per_lane[job.lane] += 1
        self.held.add(job.entry_id)
        self.size += 1

    def drop_lane(self, lane: int) -> int:
        """Forget the jobs of `lane` that have not started; returns how many were dropped."""
        gone: list[Job] = []
        for queue in self.queues.values():
            if any(job.lane == lane for job in queue):
                gone.extend(job for job in queue if job.lane == lane)
                kept = [job for job in queue if job.lane != lane]
                queue.clear()                            # in place: a runner may hold this chat
                queue.extend(kept)
        self.held.difference_update(job.entry_id for job in gone)
        dropped = len(gone)
        self.on_drop(gone)
        self.per_lane[lane] -= dropped
        self.size -= dropped
        if dropped:
            asyncio.get_running_loop().create_task(self._notify())
        return dropped

    def drop_all(self) -> int:
        """Forget every job that has not started (a cold or late stop)."""
        return sum(self.drop_lane(lane) for lane in list(self.per_lane))

    async def wait_lane_idle(self, lane: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.per_lane[lane] <= 0)

    async def wait_idle(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.size <= 0)

    async def wait_for_room(self, at_least: int = 1) -> None:
        """Until `at_least` more jobs fit (at most the whole capacity: an empty queue always returns)."""
        wanted = min(at_least, self.capacity)
        async with self._changed:
            await self._changed.wait_for(lambda: self.free >= wanted)

    async def _run_until_done(self, job: Job) -> None:
        # run() handles handler errors itself; what escapes is infrastructure (Redis down): retry the
        # same job, because moving on would break the chat's order and strand the entry
        while True:
            try:
                return await self.run(job)
            except Exception as exc:
                logger.warning("Entry {} of lane {} hit {!r}; retrying in 1s", job.entry_id, job.lane, exc)
                await asyncio.sleep(1.0)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _runner(self) -> None:
        """Until no chat is ready: take the next, run one job of it, give its turn back if it has more.
        It leaves the runner set in the same step that finds nothing ready, so a chat submitted after
        that always starts a runner of its own."""
        try:
            while self.ready:
                chat = self.ready.popleft()
                queue = self.queues[chat]
                if not queue:                            # its jobs were dropped while it waited
                    del self.queues[chat]
                    continue
                job = queue.popleft()
                try:
                    await self._run_until_done(job)
                finally:
                    self.per_lane[job.lane] -= 1
                    self.held.discard(job.entry_id)
                    self.size -= 1
                    if queue:
                        self.ready.append(chat)
                    else:
                        del self.queues[chat]
                    async with self._changed:
                        self._changed.notify_all()
        finally:
            self.runners.discard(asyncio.current_task())
