"""What every lease in botrunner shares (the poll lease, the lane leases): release and local validity.

A lease is a Redis key holding its owner's value with a PX TTL. It is released only by its owner
(`RELEASE_IF_HELD`). Locally it counts as ours until `deadline(sent, ttl_ms)`: measured from when
the acquiring or renewing request was *sent* (pessimistic), and only for 80 % of the TTL, a margin
for clock drift between this host and Redis. Work that must run under the lease starts only before it.
With replicas (LEASE_WAIT_REPLICAS, on by default with Sentinels) only writes a replica confirmed
move that deadline (`ReplicaWait`), so a failover never hands a lease to a second owner.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger

VALID_SHARE = 0.8     # of the TTL: past this, a lease we may still hold is treated as lost
WARN_EVERY_S = 10.0   # a replica that stays away would otherwise log every lease write

# KEYS: the lease.  ARGV: our value.  Delete it only if we still hold it.
RELEASE_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def renew_interval_s(ttl_ms: int) -> float:
    """How often a holder renews: every TTL/3, so two renewals can fail before the key expires."""
    return ttl_ms / 3000.0


def deadline(sent: float, ttl_ms: int) -> float:
    """The monotonic time until which a lease acquired or renewed by a request sent at `sent` is ours."""
    return sent + ttl_ms * VALID_SHARE / 1000.0


class ReplicaWait:
    """WAIT after a lease write (LEASE_WAIT_REPLICAS): a lease counts as taken or renewed only once
    that many replicas have the write.

    With asynchronous replication a failover promotes a replica that can miss the last writes; a
    lease written only to the old master would let a second worker take it on the new one while its
    holder still counts it as valid. WAIT counts the writes of its own connection, so the write and
    the WAIT go in one pipeline. It waits at most a tenth of the TTL (a healthy replica answers in
    well under a millisecond); a write not confirmed in time leaves the local deadline where the
    last confirmed write put it. After a shortfall the writes of the next timeout's length are not
    waited for (they count as unconfirmed at once), so a keeper round over many lanes does not
    spend a timeout on each while a replica is away."""

    def __init__(self, replicas: int = 0, ttl_ms: int = 10000) -> None:
        self.replicas = replicas
        self.timeout_ms = max(50, ttl_ms // 10)
        self.shortfalls = 0
        self._warned_at = -WARN_EVERY_S
        self._short_until = 0.0            # monotonic: until then, do not wait (a replica is missing)

    async def run(self, client: Any, write: Callable[[Any], Awaitable[Any]]) -> tuple[Any, bool]:
        """(the write's reply, True when enough replicas acknowledged it or none were asked for).
        `write(target)` issues the write on `target`: the client, or the pipeline that WAITs after it."""
        if not self.replicas:
            return await write(client), True
        if time.monotonic() < self._short_until:
            return await write(client), False
        async with client.pipeline(transaction=False) as pipe:
            await write(pipe)
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            reply, acked = await pipe.execute()
        if int(acked) < self.replicas:
            self._short()
            return reply, False
        return reply, True

    def confirmed(self, acked: Any) -> bool:
        """True when a WAIT reply (`acked` replicas) covers the replicas asked for; counts a shortfall."""
        if int(acked) < self.replicas:
            self._short()
            return False
        return True

    def _short(self) -> None:
        """Log a shortfall at most every WARN_EVERY_S, with how many there were meanwhile."""
        self.shortfalls += 1
        now = time.monotonic()
        self._short_until = now + self.timeout_ms / 1000
        if now - self._warned_at >= WARN_EVERY_S:
            logger.warning("{} lease write(s) reached fewer than {} replica(s) within {} ms: not counted (is a "
                           "replica down? with LEASE_WAIT_REPLICAS=1 run two replicas)", self.shortfalls,
                           self.replicas, self.timeout_ms)
            self._warned_at, self.shortfalls = now, 0
