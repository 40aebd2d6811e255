"""Updates a worker read but let go of, kept until Redis shows whether it still holds them.

A worker lets an update go when its lane looks lost: a failed read hands the lane over (its
queued jobs are dropped), a lapsed lease or a fence that no longer names this worker makes the
processor give up the job in hand. Normally the entry is still pending in Redis and the lane's
next owner claims it, in order. When the lane looked lost because Redis lost its data (a restart
without AOF, FLUSHALL, a failover to an empty replica), the entry went with it: the copy in this
worker's memory is the only one left. So every let-go job is kept here until the next generation
check: the data survived (or the lane was released to a next owner while it still held the
entries) -> forgotten; the data was lost -> the reader retakes the lane and handles them again,
oldest first, before anything it reads anew (botrunner.lanes.reader, `_recover_if_lost`). On a
Redis Cluster a check names the lanes whose master lost its data: only their jobs are handled
again; the other lanes' jobs are forgotten as after a check that found no loss.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable

from botrunner.lanes.chat_order import Job
from botrunner.redis_replies import text


class Salvage:
    """Let-go jobs per lane, each stamped with a sequence number so a check forgets only older ones."""

    def __init__(self) -> None:
        self._jobs: dict[int, list[tuple[int, Job]]] = {}
        self._seq = 0

    def keep(self, job: Job) -> None:
        """A job given up (its lane looked lost): keep it until the next generation check."""
        self._seq += 1
        self._jobs.setdefault(job.lane, []).append((self._seq, job))

    def keep_all(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            self.keep(job)

    def mark(self) -> int:
        """Taken right before a generation check is sent: the jobs kept so far."""
        return self._seq

    def forget_until(self, mark: int, lost: Collection[int] = ()) -> None:
        """The data survived a check sent at `mark` (except in the `lost` lanes, on a cluster): the jobs
        kept before it in the other lanes are still pending in Redis."""
        for lane in [lane for lane in self._jobs if lane not in lost]:
            self._jobs[lane] = [(seq, job) for seq, job in self._jobs[lane] if seq > mark]
            if not self._jobs[lane]:
                del self._jobs[lane]

    def forget_lane(self, lane: int) -> None:
        """The lane was released while its lease was still ours: its next owner claims those entries."""
        self._jobs.pop(lane, None)

    def lanes(self) -> list[int]:
        return sorted(self._jobs)

    def take(self, lane: int) -> list[Job]:
        """The lane's kept jobs, once each, in stream order (an entry id per job, unique in its lane)."""
        jobs = {job.entry_id: job for _, job in self._jobs.pop(lane, [])}
        return sorted(jobs.values(), key=lambda job: _order(job.entry_id))


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = text(entry_id).partition("-")
    return int(ms), int(seq or 0)
