"""REDIS_CLUSTER: validated in one place, and every client of the factory is a cluster client."""
from __future__ import annotations

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from botrunner import redis_clients
from botrunner.config.settings import ConfigError, load_settings


@pytest.mark.parametrize("environ, message", [
    ({}, "expected REDIS_URL"),
    ({"REDIS_SENTINELS": "10.0.0.1:26379"}, "together with REDIS_SENTINELS"),
    ({"REDIS_URL": "unix:///tmp/redis.sock"}, "unix socket"),
])
def test_a_cluster_setting_that_cannot_work_is_a_one_line_error(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={"REDIS_CLUSTER": "true", **environ}, env_file=None)


def test_the_replica_waits_are_accepted_on_a_cluster():
    s = load_settings(environ={"REDIS_CLUSTER": "true", "REDIS_URL": "redis://10.0.0.9:6379",
                               "INTAKE_WAIT_REPLICAS": "1", "LEASE_WAIT_REPLICAS": "1"}, env_file=None)
    assert (s.intake_wait_replicas, s.lease_wait_replicas) == (1, 1)


def test_every_database_of_the_factory_is_the_clusters_db_0(redis_cluster):
    s = load_settings(environ={"REDIS_CLUSTER": "true", "REDIS_URL": redis_cluster.url, "REDIS_SESSION_DB": "1",
                               "REDIS_CACHE_DB": "2"}, env_file=None)
    assert not s.embedded_redis
    for db in (s.redis_dedup_db, s.redis_session_db, s.redis_cache_db):
        client = redis_clients.sync_client(s, db, timeout=2)
        assert isinstance(client, redis.RedisCluster)
        client.set(f"probe:{db}", db)
        assert client.get(f"probe:{db}") == str(db).encode()
        client.close()
    assert isinstance(redis_clients.async_client(s, s.redis_dedup_db, timeout=2, pool_size=8), AsyncRedisCluster)
