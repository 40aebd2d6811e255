"""What every lease in botrunner shares (the poll lease, the lane leases): release and local validity.

A lease is a Redis key holding its owner's value with a PX TTL. It is released only by its owner
(`RELEASE_IF_HELD`). Locally it counts as ours until `deadline(sent, ttl_ms)`: measured from when
the acquiring or renewing request was *sent* (pessimistic), and only for 80 % of the TTL, a margin
for clock drift between this host and Redis. Work that must run under the lease starts only before it.
With replicas (LEASE_WAIT_REPLICAS, on by default with Sentinels) only writes a replica confirmed
move that deadline (`ReplicaWait`), so a failover never hands a lease to a second owner.

WAIT counts the writes of the connection it is sent on, on the node it is sent to (`WaitTail`): on
one Redis it goes last in the writes' pipeline; on a Redis Cluster one WAIT per master the writes
went to, each last in that master's part of the cluster pipeline (botrunner.packed_pipeline and
redis-py's cluster pipeline send a node's part on one connection, and the nodes' parts concurrently),
and the writes count as replicated only when every one of those masters says so. A write redirected
while its pipeline ran (MOVED: the slot moved to another master, a failover) counts as not
replicated: its WAIT went to the old master.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from loguru import logger
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

from botrunner.redis_scripts import pipelined

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

    async def run(self, client: Any, write: Callable[[Any], Any],
                  keys: Sequence[str] = ()) -> tuple[Any, bool]:
        """(the write's reply, True when enough replicas acknowledged it or none were asked for).
        `write(target)` issues the write on `target`: the client, or the pipeline that WAITs after it
        (a command, not a script: a cluster pipeline refuses EVALSHA; see run_script). `keys`: what
        the write touches (a cluster WAITs on their masters)."""
        if not self.replicas:
            return await write(client), True
        if time.monotonic() < self._short_until:
            return await write(client), False
        tail = await self.tail(client, keys)
        async with client.pipeline(transaction=False) as pipe:
            queued = write(pipe)
            if not isinstance(queued, ClusterPipeline):   # awaiting a cluster pipeline empties its queue
                await queued
            tail(pipe)
            replies, acked = tail.split(await pipe.execute())
        return replies[0], self.confirmed(acked)

    async def run_script(self, client: Any, script: Any, keys: Sequence[str], args: Sequence[Any]) -> tuple[Any, bool]:
        """As run, for one registered script touching `keys` (one slot), on one Redis or a cluster."""
        if not self.replicas:
            return await script(keys=keys, args=args), True
        if time.monotonic() < self._short_until:
            return await script(keys=keys, args=args), False
        tail = await self.tail(client, keys)
        replies, acked = tail.split(await pipelined(client, [(script, keys, args)], tail))
        return replies[0], self.confirmed(acked)

    async def tail(self, client: Any, keys: Iterable[str]) -> "WaitTail":
        """The WAITs that follow writes to `keys` in one pipeline (see WaitTail)."""
        return await WaitTail.after(client, keys, self.replicas, self.timeout_ms)

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


class WaitTail:
    """The WAIT(s) that go last in a pipeline of writes, and how many replicas they say have them all.

    One Redis: one WAIT. A cluster: one per master serving the written keys, sent to it with
    target_nodes, so it follows the writes on the connection that took them; the smallest reply
    counts. Use it as the `tail` of redis_scripts.pipelined, or call it on a pipeline."""

    def __init__(self, client: Any, nodes: list[Any], keys: list[str], replicas: int, timeout_ms: int) -> None:
        self.client = client
        self.nodes = nodes              # [None] on one Redis
        self.keys = keys
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    @classmethod
    async def after(cls, client: Any, keys: Iterable[str], replicas: int, timeout_ms: int) -> "WaitTail":
        keys = list(keys)
        if not isinstance(client, RedisCluster):
            return cls(client, [None], keys, replicas, timeout_ms)
        if not keys:
            raise ValueError("a WAIT on a Redis Cluster needs the keys written (it goes to their masters)")
        await client.initialize()       # the slot map (a no-op once read)
        return cls(client, masters(client, keys), keys, replicas, timeout_ms)

    def __call__(self, pipe: Any) -> None:
        for node in self.nodes:
            target = {} if node is None else {"target_nodes": node}
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms, **target)

    def split(self, replies: list[Any]) -> tuple[list[Any], int]:
        """(the writes' replies, replicas that acknowledged every write: 0 when one was redirected)."""
        count = len(self.nodes)
        writes, waits = replies[:-count], replies[-count:]
        acked = min(int(reply) for reply in waits)
        if self.nodes != [None] and [n.name for n in masters(self.client, self.keys)] != [n.name for n in self.nodes]:
            return writes, 0            # the slot map changed under the pipeline: a WAIT went to the old master
        return writes, acked


def masters(client: Any, keys: Iterable[str]) -> list[Any]:
    """The cluster nodes serving `keys` (each once, in a stable order), from the client's slot map."""
    nodes: dict[str, Any] = {}
    for key in keys:
        node = client.get_node_from_key(key)
        nodes.setdefault(node.name, node)
    return [nodes[name] for name in sorted(nodes)]
