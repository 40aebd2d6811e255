"""The client factory through real Sentinels: every client reaches the master the Sentinels name,
follows a failover without being rebuilt, and authenticates to servers and Sentinels."""
from __future__ import annotations

import asyncio
import time

import pytest
import redis

from botrunner import redis_clients
from botrunner.config.settings import load_settings
from tests.redis_ha.conftest import sentinel_settings
from tests.redis_ha.servers import SentinelSet


def test_sync_and_async_clients_write_to_the_master_the_sentinels_name(sentinels, tmp_path):
    settings = sentinel_settings(sentinels, tmp_path)
    sync = redis_clients.sync_client(settings, 3, timeout=2)
    sync.set("k", "from-sync")

    async def via_async():
        client = redis_clients.async_client(settings, 3, timeout=2, pool_size=4)
        try:
            await client.set("k2", "from-async")
            return await client.get("k")
        finally:
            await client.aclose()

    assert asyncio.run(via_async()) == b"from-sync"
    on_master = redis.Redis(host="127.0.0.1", port=sentinels.master_address()[1], db=3)
    assert on_master.get("k2") == b"from-async"
    assert on_master.info("replication")["role"] == "master"


def test_a_blocking_pool_makes_callers_wait_instead_of_failing(sentinels, tmp_path):
    settings = sentinel_settings(sentinels, tmp_path)

    async def burst():
        client = redis_clients.async_client(settings, 4, timeout=5, pool_size=2)
        try:
            return await asyncio.gather(*(client.incr("n") for _ in range(50)))
        finally:
            await client.aclose()

    assert sorted(asyncio.run(burst())) == list(range(1, 51))


def test_clients_follow_a_failover_without_being_rebuilt(fresh_sentinels, tmp_path):
    ha = fresh_sentinels
    settings = sentinel_settings(ha, tmp_path)
    sync = redis_clients.sync_client(settings, 0, timeout=1)
    sync.set("before", 1)
    ha.wait_until(lambda: ha.server_client(ha.servers[1]).get("before"), 10, "the write on the replica")
    old = ha.master_address()
    ha.kill_master()
    killed_at = time.monotonic()
    new = ha.wait_failover(old)
    assert new != old

    def write_sync():
        sync.set("after", 2)
        return True
    ha.wait_until(write_sync, 30, "the sync client to write to the new master")

    async def write_async():
        client = redis_clients.async_client(settings, 0, timeout=1, pool_size=4)
        try:
            await client.set("async-after", 3)
            return await client.get("before")
        finally:
            await client.aclose()
    assert asyncio.run(write_async()) == b"1"
    on_new = redis.Redis(host=new[0], port=new[1])
    assert on_new.get("after") == b"2" and on_new.get("async-after") == b"3"
    print(f"failover seen by the client after {time.monotonic() - killed_at:.1f} s")


def test_a_long_lived_async_client_reconnects_to_the_new_master(fresh_sentinels, tmp_path):
    """The worker's pipeline client is built once: it must reach the new master by itself."""
    ha = fresh_sentinels
    settings = sentinel_settings(ha, tmp_path)

    async def scenario():
        client = redis_clients.async_client(settings, 0, timeout=1, pool_size=8)
        try:
            await client.set("x", 1)
            old = ha.master_address()
            ha.kill_master()
            await asyncio.get_running_loop().run_in_executor(None, ha.wait_failover, old)
            deadline = time.monotonic() + 30
            while True:
                try:
                    return await client.incr("x"), ha.master_address()
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await client.aclose()

    value, master = asyncio.run(scenario())
    assert value == 2                                    # the replica had x=1: nothing was lost
    assert redis.Redis(host=master[0], port=master[1]).get("x") == b"2"


def test_passwords_for_the_servers_and_for_the_sentinels(tmp_path):
    with SentinelSet(password="srv-secret", sentinel_password="sen-secret") as ha:
        settings = sentinel_settings(ha, tmp_path)
        client = redis_clients.sync_client(settings, 0, timeout=2)
        client.set("k", "v")
        assert client.get("k") == b"v"
        wrong = load_settings(environ={**ha.env(), "REDIS_SENTINEL_PASSWORD": "nope"}, env_file=None)
        with pytest.raises(redis.ConnectionError):      # every Sentinel refuses: no master found
            redis_clients.sync_client(wrong, 0, timeout=2).ping()
        no_server_password = load_settings(environ={**ha.env(), "REDIS_PASSWORD": ""}, env_file=None)
        with pytest.raises(redis.AuthenticationError):
            redis_clients.sync_client(no_server_password, 0, timeout=2).set("k", "v")
