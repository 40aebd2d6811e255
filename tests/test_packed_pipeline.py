"""The packed round trip on one Redis (botrunner.packed_pipeline): replies in order, an error reply in its
place, and a failure part-way raised as the redis-py error its Retry retries, with the connection closed."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from botrunner.packed_pipeline import _round_trip, pack, send
from tests.aio import SLOW, run


def test_replies_come_in_order_with_an_error_reply_in_its_place(redis_url):
    async def scenario(client):
        return await send(client, [("SET", "a", "1"), ("INCR", "a"), ("HGET", "a", "x"), ("INCR", "a")])
    ok, two, wrong_type, three = run(scenario, redis_url)
    assert (ok, two, three) == (b"OK", 2, 3)
    assert isinstance(wrong_type, redis.exceptions.ResponseError) and "WRONGTYPE" in str(wrong_type)


def test_a_connection_redis_closed_fails_with_a_retried_error_and_reconnects(redis_url):
    async def scenario(client):
        connection = await client.connection_pool.get_connection()
        try:
            await connection.send_command("CLIENT", "ID")
            own_id = await connection.read_response()
            await client.execute_command("CLIENT", "KILL", "ID", own_id)     # from another pooled connection
            with pytest.raises(redis.exceptions.ConnectionError):
                await _round_trip(connection, pack([("PING",)]), 1)
            closed = not connection.is_connected
            return closed, await _round_trip(connection, pack([("INCR", "n"), ("INCR", "n")]), 2)
        finally:
            await client.connection_pool.release(connection)
    closed, replies = run(scenario, redis_url)
    assert closed and replies == [1, 2]


def test_a_round_trip_past_the_socket_timeout_fails_with_redis_timeout_error(redis_url):
    """Redis' TimeoutError (which redis-py's Retry retries and the callers count as Redis unreachable),
    not asyncio's; the connection is closed, so its late reply is never read as the next one's."""
    async def scenario(_):
        client = aioredis.Redis.from_url(redis_url, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
        try:
            sha = await client.script_load(SLOW)
            with pytest.raises(redis.exceptions.TimeoutError):
                await send(client, [("PING",), ("EVALSHA", sha, 0, 800_000)])
            await asyncio.sleep(0.8)
            return await send(client, [("ECHO", "mine")])
        finally:
            await client.aclose()
    assert run(scenario, redis_url) == [b"mine"]


def test_a_connection_idle_past_the_health_check_interval_is_pinged_first_and_only_then(redis_url):
    """As redis-py's own calls: a PING before the pipeline on a connection idle for longer than
    health_check_interval (a dead idle connection is found before a write), none on a busy one."""
    async def scenario(observer):
        client = aioredis.Redis.from_url(redis_url, health_check_interval=1)
        try:
            async def pings() -> int:          # counted through another client's connection
                stats = await observer.execute_command("INFO", "commandstats")
                return int(stats.get("cmdstat_ping", {}).get("calls", 0))
            await observer.config_resetstat()
            counted = []
            for pause in (0, 0, 0, 1.2, 0, 0):
                await asyncio.sleep(pause)
                await send(client, [("INCR", "busy"), ("INCR", "busy")])
                counted.append(await pings())
            return counted
        finally:
            await client.aclose()
    counted = run(scenario, redis_url)
    assert counted[3] == counted[2] + 1                # the pause: one PING first
    assert counted[:3] == [counted[0]] * 3 and counted[3:] == [counted[3]] * 3    # busy: none
