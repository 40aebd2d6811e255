"""Periodic jobs that one worker of the cluster runs per interval (scheduled export, ban ends).

Every worker runs one small thread that wakes up every `CHECK_S` and offers each job a turn. A job is
due when its last successful run (`job:<name>:last`, a timestamp in Redis) is `interval_s` old. The
worker that wins `job:<name>:lease` (SET NX with a short TTL, which the job renews through
`renew()` while it works) checks "due" again under the lease and runs it; the others see the lease
or the fresh timestamp and skip. A worker that dies mid-job lets the lease expire, so another one
takes over within `LEASE_S`; a job that raises is tried again at the next check.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

CHECK_S = 60.0
LEASE_S = 300

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class Job:
    """`run(renew)` does the work (calling `renew()` now and then when it takes long)."""

    name: str
    interval_s: float
    run: Callable[[Callable[[], None]], Any]
    token: str = field(default_factory=lambda: secrets.token_hex(8))


class ClusterJobs:
    """`run_once(job)` runs a due job under its lease; `start()`/`stop()` the checking thread."""

    def __init__(self, rt: Any, jobs: list[Job], clock: Callable[[], float] = time.time) -> None:
        self.rt, self.jobs, self.clock = rt, jobs, clock
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def _key(self, job: Job, part: str) -> str:
        return self.rt.key("job", job.name, part)

    def due(self, job: Job) -> bool:
        last = self.rt.redis.get(self._key(job, "last"))
        return last is None or self.clock() - float(last) >= job.interval_s

    def run_once(self, job: Job) -> Any:
        """The job's result if it was due and this worker held the lease; None otherwise."""
        if not self.due(job):
            return None
        lease = self._key(job, "lease")
        if not self.rt.redis.set(lease, job.token, nx=True, ex=LEASE_S):
            return None
        try:
            if not self.due(job):             # another worker finished while we asked for the lease
                return None
            result = job.run(lambda: self.rt.redis.set(lease, job.token, xx=True, ex=LEASE_S))
            self.rt.redis.set(self._key(job, "last"), self.clock())
            return result
        finally:
            self.rt.redis.eval(_RELEASE, 1, lease, job.token)

    def start(self) -> "ClusterJobs":
        self.thread = threading.Thread(target=self._loop, name="cluster-jobs", daemon=True)
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stopped.wait(CHECK_S):
            for job in self.jobs:
                try:
                    self.run_once(job)
                except Exception as exc:      # Redis or Telegram away: the next check tries again
                    logger.warning("Job {} failed: {!r}; trying again in {:.0f} s", job.name, exc, CHECK_S)

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
