"""Lane events: one pub/sub channel that wakes every keeper at once, so a lane moves in milliseconds.

A worker joining or leaving the registry, and a lane released by its owner, are published on
`Keys.lane_events` ("joined <ids>", "left <id>", "released <lane> <id>"); each keeper wakes and
rebalances right away instead of at its next round (LANE_LEASE_TTL_MS / 3).

Events only make things faster: correctness rests on the leases alone (a lane is taken only while
its lease key is free, released only by its owner after its in-flight updates). Pub/sub is
fire-and-forget, so a message missed (a reconnect, Redis restarted) costs at most one keeper round,
and every (re)subscription wakes the keeper once in case it missed something meanwhile.
"""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from loguru import logger

from botrunner.backoff import Backoff
from botrunner.redis_keys import Keys


class LaneEvents:
    """This worker's subscription to the lane events: `wake` is set by every message."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.client = client
        self.channel = keys.lane_events
        self.wake = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.received = 0

    async def listen(self, stopping: asyncio.Event) -> None:
        """Until `stopping`: set `wake` on every message; resubscribe (and wake) after a connection error."""
        backoff = Backoff(first=0.2, cap=5.0)
        while not stopping.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                self.wake.set()                   # whatever was published while we were not listening
                backoff.reset()
                while not stopping.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self.received += 1
                        self.wake.set()
                        logger.debug("Lane event: {}", message["data"])
            except Exception as exc:              # Redis unreachable: the keeper's rounds go on without us
                self.subscribed.clear()
                logger.debug("Lane events: {!r}; resubscribing", exc)
                await asyncio.sleep(backoff.next_delay())
            finally:
                await _close(pubsub)

    async def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, less if an event arrives (or came since the last wait)."""
        if seconds > 0 and not self.wake.is_set():
            try:
                await asyncio.wait_for(self.wake.wait(), seconds)
            except asyncio.TimeoutError:
                pass
        self.wake.clear()

    async def publish(self, message: str) -> None:
        """Tell every keeper (a lone join, a leave); lane releases publish inside their script."""
        await self.client.publish(self.channel, message)


async def _close(pubsub: aioredis.client.PubSub) -> None:
    try:
        await pubsub.aclose()
    except Exception as exc:
        logger.debug("Lane events: closing the subscription: {!r}", exc)
