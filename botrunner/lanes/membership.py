"""The workers of one bot, cluster-wide: liveness mirrored in Redis with TTLs.

Lane assignment counts the live workers from it, and `botrunner status` shows it from any host.
Timestamps come from Redis' clock (TIME), never the host's: a host whose clock is off by minutes
is neither taken for dead nor kept alive after it died.

Workers started together (a cohort: `botrunner start --workers 4`) join the registry all at once:
each enrols in the cohort's set, and the last one to enrol registers every member in one script,
so no lane is ever assigned to a part of the cohort first and moved again a moment later.
Joins and leaves are published on the lane events channel (botrunner.lanes.events).
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from botrunner.memory import rss_mb
from botrunner.redis_keys import Keys
from botrunner.redis_replies import text

# Both scripts read the time from Redis (TIME), so hosts whose clocks disagree still agree on who is live.
# KEYS: workers zset, worker hash.  ARGV: worker id, hash ttl ms, then field/value pairs.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], 'beat_ms', now, unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return now
"""

# KEYS: workers zset.  ARGV: stale ms.  Forgets workers silent for 3 stale windows; returns the live ones.
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3 * tonumber(ARGV[1]))
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
"""

# KEYS: cohort set, workers zset.  ARGV: worker id, cohort size, set ttl ms, events channel.
# The last member to enrol registers them all at the same Redis time and announces them.
_ENROL = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local members = redis.call('SMEMBERS', KEYS[1])
if #members < tonumber(ARGV[2]) then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, m in ipairs(members) do
  redis.call('ZADD', KEYS[2], now, m)
end
redis.call('PUBLISH', ARGV[4], 'joined ' .. table.concat(members, ' '))
return 1
"""

COHORT_TTL_MS = 120_000       # a cohort's set outlives any settle (LANE_SETTLE_MS is at most 60 s)


@dataclass(frozen=True)
class Cohort:
    """Workers one supervisor starts at the same moment: they take lanes only once all `size` joined."""

    id: str
    size: int = 1


class Registry:
    """Workers of one bot, cluster-wide: a zset of last heartbeats plus a hash per worker with a TTL."""

    def __init__(self, client: aioredis.Redis, keys: Keys, worker_id: str, stale_ms: int) -> None:
        self.client = client
        self.keys = keys
        self.worker_id = worker_id
        self.stale_ms = stale_ms
        self.started = time.time()
        self.left = False
        self._writing = asyncio.Lock()       # a beat in flight lands before the leave, never after it
        self._beat = client.register_script(_BEAT)
        self._live = client.register_script(_LIVE)
        self._enrol = client.register_script(_ENROL)

    async def beat(self, lanes: list[int], poller: bool, extra: dict | None = None) -> None:
        """Record that this worker is alive, with what it holds (timestamped by Redis); nothing once it left."""
        async with self._writing:
            if not self.left:
                await self._beat_now(lanes, poller, extra)

    async def _beat_now(self, lanes: list[int], poller: bool, extra: dict | None) -> None:
        fields = {"host": socket.gethostname(), "pid": os.getpid(), "started": self.started,
                  "rss_mb": round(rss_mb(os.getpid()), 1), "lanes": ",".join(map(str, lanes)), "poller": int(poller),
                  **(extra or {})}
        args: list = [self.worker_id, self.stale_ms * 3, *(x for pair in fields.items() for x in pair)]
        await self._beat(keys=[self.keys.workers, self.keys.worker(self.worker_id)], args=args)

    async def live(self) -> list[str]:
        """Ids of every worker (any host) that beat within the stale window; forgets older ones."""
        ids = await self._live(keys=[self.keys.workers], args=[self.stale_ms])
        return [text(i) for i in ids]

    async def enrol(self, cohort: Cohort) -> bool:
        """Enrol in `cohort`; True when it is now complete (then every member is registered and announced)."""
        return bool(await self._enrol(keys=[self.keys.cohort(cohort.id), self.keys.workers],
                                      args=[self.worker_id, cohort.size, COHORT_TTL_MS, self.keys.lane_events]))

    async def cohort_complete(self, cohort: Cohort) -> bool:
        """True once every member of `cohort` enrolled (the last one registered them all)."""
        return int(await self.client.scard(self.keys.cohort(cohort.id))) >= cohort.size  # type: ignore[misc]  # redis-py types async replies as "Awaitable[int] | int"

    async def join_alone(self) -> None:
        """Register now without the rest of the cohort (it did not complete in time) and announce it."""
        await self.client.zadd(self.keys.workers, {self.worker_id: await self._redis_ms()})
        await self.client.publish(self.keys.lane_events, f"joined {self.worker_id}")

    async def leave(self, cohort: Cohort | None = None) -> None:
        """Deregister at a graceful stop and announce it, so the others rebalance at once. Leaving the
        cohort's set too keeps a stop during the boot settle from being registered by the last to enrol.
        A beat already on its way lands first: one landing after the leave would register a stopped worker,
        whose lanes the assignment would then keep for it until its entry went stale (a lease TTL)."""
        async with self._writing:
            self.left = True
            await self._leave_now(cohort)

    async def _leave_now(self, cohort: Cohort | None) -> None:
        if cohort is not None:
            await self.client.srem(self.keys.cohort(cohort.id), self.worker_id)  # type: ignore[misc]  # redis-py types async replies as "Awaitable[int] | int"
        await self.client.zrem(self.keys.workers, self.worker_id)
        await self.client.delete(self.keys.worker(self.worker_id))
        await self.client.publish(self.keys.lane_events, f"left {self.worker_id}")

    async def _redis_ms(self) -> int:
        seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000
