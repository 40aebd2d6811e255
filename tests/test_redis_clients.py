"""The Redis client factory without Sentinels: the configured server, retries on connection errors
only, and the settings that select Sentinels (parsing, defaults, conflicts)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis
from redis.exceptions import ReadOnlyError

from botrunner import redis_clients
from botrunner.config.settings import load_settings
from botrunner.errors import ConfigError


def test_sync_and_async_clients_reach_the_configured_redis(settings, redis_client):
    redis_clients.sync_client(settings, 5, timeout=2).set("k", "v")

    async def read():
        client = redis_clients.async_client(settings, 5, timeout=2, pool_size=2)
        try:
            return await client.get("k")
        finally:
            await client.aclose()

    assert asyncio.run(read()) == b"v"
    redis_client.select(5)
    assert redis_client.get("k") == b"v"


def test_connection_errors_are_retried_with_backoff_but_timeouts_are_not(settings):
    client = redis_clients.sync_client(settings, 0, timeout=2)
    retry = client.connection_pool.connection_kwargs["retry"]
    assert retry._retries == redis_clients.RETRIES
    assert {redis.ConnectionError, ReadOnlyError} <= set(retry._supported_errors)
    assert redis.TimeoutError not in retry._supported_errors


def test_a_command_in_flight_when_the_server_drops_its_connection_is_sent_again(settings, redis_client):
    """A failover or a restart cuts every connection, also under a blocking read: it is re-sent, not failed."""
    client = redis_clients.sync_client(settings, 0, timeout=10)
    got: list = []
    reader = threading.Thread(target=lambda: got.append(client.blpop(["q"], timeout=8)))
    reader.start()
    deadline = time.monotonic() + 5
    while not any(c.get("cmd") == "blpop" for c in redis_client.client_list()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert redis_client.client_kill_filter(_type="normal", skipme=True) >= 1
    time.sleep(0.5)                          # the retry (after its backoff) blocks again on the new connection
    redis_client.rpush("q", "job")
    reader.join(10)
    assert got == [(b"q", b"job")]


def test_a_refused_connection_fails_at_once(tmp_path):
    """Nothing answers: the caller's own loop decides (no silent stretching of a call)."""
    settings = load_settings(environ={"REDIS_URL": f"unix://{tmp_path}/nothing.sock"}, env_file=None)
    with pytest.raises(redis.ConnectionError):
        redis_clients.sync_client(settings, 0, timeout=1).ping()


def test_backoff_doubles_within_its_cap_with_jitter():
    backoff = redis_clients.JitteredBackoff(first=0.1, cap=0.4)
    for failures, full in ((1, 0.1), (2, 0.2), (3, 0.4), (6, 0.4)):
        delays = [backoff.compute(failures) for _ in range(50)]
        assert all(full * 0.5 <= d <= full for d in delays)


def test_sentinel_settings_are_parsed_and_given_as_pairs():
    s = load_settings(environ={"REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26380,[::1]:26381"}, env_file=None)
    assert s.redis_sentinels == ("10.0.0.1:26379", "10.0.0.2:26380", "[::1]:26381")
    assert redis_clients.sentinel_addresses(s) == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381)]
    assert s.redis_sentinel_master == "mymaster" and not s.embedded_redis


@pytest.mark.parametrize("raw", ["10.0.0.1", "10.0.0.1:0", "host:port", ":26379"])
def test_a_bad_sentinel_address_is_a_one_line_error(raw):
    with pytest.raises(ConfigError, match="REDIS_SENTINELS=.*host:port"):
        load_settings(environ={"REDIS_SENTINELS": raw}, env_file=None)


@pytest.mark.parametrize("other", ["REDIS_URL", "REDIS_HOST"])
def test_sentinels_and_a_direct_redis_together_are_refused(other):
    value = "redis://10.0.0.9:6379" if other == "REDIS_URL" else "10.0.0.9"
    with pytest.raises(ConfigError, match=f"REDIS_SENTINELS is set together with {other}"):
        load_settings(environ={"REDIS_SENTINELS": "10.0.0.1:26379", other: value}, env_file=None)


def test_replication_waits_default_to_one_replica_with_sentinels_only():
    plain = load_settings(environ={"REDIS_URL": "redis://10.0.0.9:6379"}, env_file=None)
    assert (plain.intake_wait_replicas, plain.lease_wait_replicas) == (0, 0)
    ha = load_settings(environ={"REDIS_SENTINELS": "10.0.0.1:26379"}, env_file=None)
    assert (ha.intake_wait_replicas, ha.lease_wait_replicas) == (1, 1)
    chosen = load_settings(environ={"REDIS_SENTINELS": "10.0.0.1:26379", "INTAKE_WAIT_REPLICAS": "0",
                                    "LEASE_WAIT_REPLICAS": "2"}, env_file=None)
    assert (chosen.intake_wait_replicas, chosen.lease_wait_replicas) == (0, 2)


def test_the_sentinel_password_is_masked_in_the_config_listing():
    from botrunner.config.settings import describe
    s = load_settings(environ={"REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_PASSWORD": "hunter2"},
                      env_file=None)
    rows = {name: shown for name, shown, _ in describe(s)}
    assert rows["REDIS_SENTINEL_PASSWORD"] == "****" and "hunter2" not in repr(s)
