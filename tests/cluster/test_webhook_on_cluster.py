"""Webhook intake on a Redis Cluster: 200 only once the lane script stored the update; a retry is stored once."""
from __future__ import annotations

import asyncio
import json

import redis

from botrunner.intake.store import lane_for
from tests.lane_records import seen_ttl
from tests.web.conftest import KEYS, update, web_settings
from tests.web.test_webhook_intake import post_all


def test_webhook_posts_are_stored_in_their_lanes_once(redis_cluster):
    settings = web_settings(redis_cluster.url, REDIS_CLUSTER="true")
    bodies = [update(10, 501), update(11, 502), update(12, 501), update(10, 501)]
    statuses, counts = asyncio.run(post_all(settings, bodies))
    assert statuses == [200] * 4 and counts == {"stored": 3, "duplicate": 1}
    client = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        stored = {n: [json.loads(f[b"update"])["update_id"] for _, f in client.xrange(KEYS.lane(n))] for n in range(8)}
        assert stored[lane_for(update(10, 501), 8)][:2] == [10, 12] and 11 in stored[lane_for(update(11, 502), 8)]
        assert seen_ttl(client, KEYS, 10, lanes=8) > 3600 * 23
    finally:
        client.close()
