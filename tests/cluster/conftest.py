"""Real-process fixtures on a Redis Cluster: `botrunner start` with REDIS_CLUSTER=true.

The pipeline runs on the session's cluster (3 masters + 3 replicas); the test bot records what it
handled in the session's single Redis (TEST_RECORD_REDIS_URL), which is not under test here."""
from __future__ import annotations

import asyncio

import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from tests.runner.conftest import KEYS, Cluster


class ClusterRun(Cluster):
    """Supervisors on a Redis Cluster: lanes, leases and offsets in the cluster, records elsewhere."""

    def __init__(self, tmp_path, nodes, record_url: str, api_url: str) -> None:
        super().__init__(tmp_path, nodes.url, api_url)
        self.nodes = nodes
        self.client.close()
        self.client = redis.RedisCluster.from_url(nodes.url)
        self.record = redis.Redis.from_url(record_url)
        self.record_url = record_url

    def env(self, **extra: str) -> dict[str, str]:
        env = super().env(REDIS_CLUSTER="true", TEST_RECORD_REDIS_URL=self.record_url)
        env.update(extra)
        return env

    def handled(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.record.hgetall("handled:count").items()}

    def order(self, chat_id: int) -> list[int]:
        return [int(x) for x in self.record.lrange(f"handled:{chat_id}", 0, -1)]

    def pending(self, lanes: int = 16) -> int:
        return sum(self.client.xpending(KEYS.lane(n), "workers")["pending"] for n in range(lanes))


@pytest.fixture
def cluster_run(tmp_path, redis_cluster, redis_url, emulator):
    emu, _ = emulator
    group = ClusterRun(tmp_path, redis_cluster, redis_url, emu.url)
    try:
        yield group
    finally:
        group.stop_all()
        group.client.close()
        group.record.close()


def run_on_cluster(nodes, scenario):
    """asyncio.run of `scenario(client)` with an asyncio RedisCluster client on `nodes`, closed after."""
    async def go():
        client = RedisCluster.from_url(nodes.url)
        try:
            return await scenario(client)
        finally:
            await client.aclose()
    return asyncio.run(go())
