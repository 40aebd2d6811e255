"""The poll lease: exactly one getUpdates poller per bot token, across all processes and hosts.

A Redis key set with NX + PX holds "<fencing token>:<worker id>". The fencing token comes from an
INCR counter, so every acquisition has a new, larger value; intake refuses batches whose lease
value is no longer current. The holder renews it well before it expires; a failed renewal means
"stop polling now". A graceful stop deletes the key so another worker takes over at once.
"""
from __future__ import annotations

import time

import redis.asyncio as aioredis
from loguru import logger

from botrunner.lease import RELEASE_IF_HELD, ReplicaWait, deadline, renew_interval_s
from botrunner.redis_keys import Keys

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class PollLease:
    """One worker's view of the poll lease: acquire, renew, release, and local validity."""

    def __init__(self, client: aioredis.Redis, keys: Keys, worker_id: str, ttl_ms: int, replicas: int = 0) -> None:
        self.client = client
        self.wait = ReplicaWait(replicas, ttl_ms)      # LEASE_WAIT_REPLICAS
        self.keys = keys
        self.worker_id = worker_id
        self.ttl_ms = ttl_ms
        self.value: str | None = None       # "<fence>:<worker id>" while held
        self.fence: int | None = None
        self._valid_until = 0.0             # monotonic; pessimistic: from the moment we *sent* the request
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(RELEASE_IF_HELD)

    @property
    def held(self) -> bool:
        """True while we hold the lease and its local deadline (minus a safety margin) is ahead."""
        return self.value is not None and time.monotonic() < self._valid_until

    @property
    def remaining_s(self) -> float:
        """Seconds the lease is still locally valid (0 when not held)."""
        return max(0.0, self._valid_until - time.monotonic()) if self.value is not None else 0.0

    @property
    def renew_interval_s(self) -> float:
        return renew_interval_s(self.ttl_ms)

    async def acquire(self) -> bool:
        """Try once to take the lease; True when we now hold it."""
        if await self.client.exists(self.keys.poll_lease):
            return False                     # cheap check first: don't burn fencing tokens while held
        sent = time.monotonic()
        fence = await self.client.incr(self.keys.poll_fence)
        value = f"{fence}:{self.worker_id}"
        taken, replicated = await self.wait.run(
            self.client, lambda c: c.set(self.keys.poll_lease, value, nx=True, px=self.ttl_ms), [self.keys.poll_lease])
        if not taken:
            return False
        if not replicated:                   # a failover could hand it to another: not ours; free it for a retry
            await self._release(keys=[self.keys.poll_lease], args=[value])
            return False
        self.value, self.fence = value, fence
        self._set_deadline(sent)
        logger.info("Took the poll lease (fencing token {}); this worker polls getUpdates now", fence)
        return True

    async def renew(self) -> bool:
        """Extend the lease; False (and the lease forgotten) when it is no longer ours."""
        if self.value is None:
            return False
        sent = time.monotonic()
        value = self.value
        kept, replicated = await self.wait.run_script(self.client, self._renew, [self.keys.poll_lease],
                                                      [value, self.ttl_ms])
        if kept:
            if replicated:                   # else the deadline stays where the last confirmed renewal put it
                self._set_deadline(sent)
            return True
        logger.warning("Lost the poll lease (fencing token {}): another worker holds it; stopping polling",
                       self.fence)
        self.forget()
        return False

    async def release(self) -> None:
        """Give the lease back so another worker can poll immediately (graceful stop)."""
        if self.value is None:
            return
        value, self.value = self.value, None
        try:
            if await self._release(keys=[self.keys.poll_lease], args=[value]):
                logger.info("Released the poll lease (fencing token {})", self.fence)
        finally:
            self.forget()

    def forget(self) -> None:
        """Drop local knowledge of the lease without touching Redis (after a failure)."""
        self.value = None
        self._valid_until = 0.0

    def _set_deadline(self, sent: float) -> None:
        self._valid_until = deadline(sent, self.ttl_ms)
