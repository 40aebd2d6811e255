"""`botrunner status` shows the sender counters every worker mirrors into its registry hash."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from botrunner.redis_keys import Keys
from botrunner.sender.metrics import MetricsPublisher, SendMetrics
from botrunner.tools.status import render, snapshot

KEYS = Keys.for_token("888:status")


def test_status_sums_the_workers_sender_counters(redis_url, redis_client):
    async def publish():
        client = aioredis.from_url(redis_url)
        for n, worker in enumerate(("a", "b", "gone")):
            if worker != "gone":
                await client.hset(KEYS.worker(worker), mapping={"pid": n})
                await client.zadd(KEYS.workers, {worker: 1})
            metrics = SendMetrics(sent=10 + n, rate_limited_chat=1, rate_limited_global=n, skipped_blocked=2)
            await MetricsPublisher(client, KEYS.worker(worker), metrics).publish()
        await client.sadd(KEYS.send_blocked, "42")
        await client.aclose()
    asyncio.run(publish())
    assert not redis_client.exists(KEYS.worker("gone"))       # a worker that left is not re-created
    snap = snapshot(redis_client, KEYS, 1)
    assert snap.sender["sent"] == 21 and snap.sender["rate_limited_chat"] == 2
    assert snap.sender["rate_limited_global"] == 1 and snap.sender["skipped_blocked"] == 4
    assert snap.blocked_chats == 1
    text = "\n".join(render(snap))
    assert "sent 21" in text and "429s chat/group/global 2/0/1" in text and "blocked the bot: 1" in text
