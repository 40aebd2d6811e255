"""The workers of one bot, cluster-wide: liveness mirrored in Redis with TTLs.

Lane assignment counts the live workers from it, and `botrunner status` shows it from any host.
"""
from __future__ import annotations

import os
import socket
import time

import redis.asyncio as aioredis

from botrunner.memory import rss_mb
from botrunner.redis_keys import Keys
from botrunner.redis_replies import text


class Registry:
    """Workers of one bot, cluster-wide: a zset of last heartbeats plus a hash per worker with a TTL."""

    def __init__(self, client: aioredis.Redis, keys: Keys, worker_id: str, stale_ms: int) -> None:
        self.client = client
        self.keys = keys
        self.worker_id = worker_id
        self.stale_ms = stale_ms
        self.started = time.time()

    async def beat(self, lanes: list[int], poller: bool) -> None:
        """Record that this worker is alive, with what it holds."""
        now_ms = int(time.time() * 1000)
        key = self.keys.worker(self.worker_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(self.keys.workers, {self.worker_id: now_ms})
            pipe.hset(key, mapping={"host": socket.gethostname(), "pid": os.getpid(), "started": self.started,
                                    "rss_mb": round(rss_mb(os.getpid()), 1), "beat_ms": now_ms,
                                    "lanes": ",".join(map(str, lanes)), "poller": int(poller)})
            pipe.pexpire(key, self.stale_ms * 3)
            await pipe.execute()

    async def live(self) -> list[str]:
        """Ids of every worker (any host) that beat within the stale window; forgets older ones."""
        now_ms = int(time.time() * 1000)
        await self.client.zremrangebyscore(self.keys.workers, "-inf", now_ms - self.stale_ms * 3)
        ids = await self.client.zrangebyscore(self.keys.workers, now_ms - self.stale_ms, "+inf")
        return [text(i) for i in ids]

    async def leave(self) -> None:
        """Deregister at a graceful stop, so the others rebalance at once."""
        await self.client.zrem(self.keys.workers, self.worker_id)
        await self.client.delete(self.keys.worker(self.worker_id))
