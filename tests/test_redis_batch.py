"""The script batcher on the real Redis: one pipeline per loop turn, each call its own result or error,
scripts reloaded after Redis forgot them, a failed batch fails each of its callers."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import DataError, ResponseError
from redis.retry import Retry

from botrunner.redis_batch import ScriptBatcher, both
from tests.aio import SLOW, run

INCR_BY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
FAILS_ON_NEGATIVE = "if tonumber(ARGV[1]) < 0 then return redis.error_reply('negative') end return ARGV[1]"


def test_calls_of_one_turn_share_one_pipeline_and_get_their_own_results(redis_url, redis_client):
    async def scenario(client):
        batcher = ScriptBatcher(client)
        incr = batcher.script(INCR_BY)
        results = await asyncio.gather(*(incr(keys=[f"k{n % 3}"], args=[n]) for n in range(30)))
        return batcher.batches, results
    batches, results = run(scenario, redis_url)
    running = [0, 0, 0]
    expected = [running.__setitem__(n % 3, running[n % 3] + n) or running[n % 3] for n in range(30)]
    assert batches == 1 and results == expected            # one round trip, each script in call order
    assert [int(redis_client.get(f"k{k}")) for k in range(3)] == [sum(range(k, 30, 3)) for k in range(3)]


def test_one_failing_call_fails_only_its_caller(redis_url):
    async def scenario(client):
        check = ScriptBatcher(client).script(FAILS_ON_NEGATIVE)
        return await asyncio.gather(check(keys=[], args=[1]), check(keys=[], args=[-1]), check(keys=[], args=[2]),
                                    return_exceptions=True)
    ok, failed, also_ok = run(scenario, redis_url)
    assert (ok, also_ok) == (b"1", b"2") and isinstance(failed, ResponseError) and "negative" in str(failed)


def test_scripts_are_loaded_again_after_redis_forgot_them(redis_url, redis_client):
    async def scenario(client):
        incr = ScriptBatcher(client).script(INCR_BY)
        await incr(keys=["n"], args=[1])
        await client.script_flush()                 # a restarted Redis (or a failover) knows no scripts
        return await asyncio.gather(incr(keys=["n"], args=[1]), incr(keys=["n"], args=[1]))
    assert sorted(run(scenario, redis_url)) == [2, 3] and int(redis_client.get("n")) == 3


def test_a_batch_redis_never_answers_fails_every_caller():
    async def scenario():
        client = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)   # nothing listens
        incr = ScriptBatcher(client).script(INCR_BY)
        try:
            return await asyncio.gather(incr(keys=["a"], args=[1]), incr(keys=["b"], args=[1]),
                                        return_exceptions=True)
        finally:
            await client.aclose()
    results = asyncio.run(scenario())
    assert len(results) == 2 and all(isinstance(r, (ConnectionError, OSError, aioredis.ConnectionError))
                                     for r in results)


@pytest.mark.parametrize("enabled, batches", [(True, 1), (False, 5)])
def test_batching_off_sends_each_call_alone(redis_url, enabled, batches):
    async def scenario(client):
        batcher = ScriptBatcher(client, enabled=enabled)
        incr = batcher.script(INCR_BY)
        await asyncio.gather(*(incr(keys=["x"], args=[1]) for _ in range(5)))
        return batcher.batches
    assert run(scenario, redis_url) == batches


def test_calls_made_while_pipelines_are_out_wait_and_go_together(redis_url):
    async def scenario(client):
        batcher = ScriptBatcher(client)
        incr = batcher.script(INCR_BY)
        gate, send = asyncio.Event(), batcher._pipeline

        async def held(calls):                     # a slow round trip: out until the gate opens
            await gate.wait()
            return await send(calls)
        batcher._pipeline = held
        calls = []
        for _ in range(7):                         # seven loop turns with a call each
            calls.append(incr(keys=["a"], args=[1]))
            await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*calls)
        return batcher.batches, sorted(results)
    batches, results = run(scenario, redis_url)
    assert results == list(range(1, 8))
    assert batches == 3                            # two out at once, the five calls made meanwhile in a third


def test_both_awaits_two_batched_calls_and_leaves_no_unseen_error(redis_url):
    async def scenario(client):
        batcher = ScriptBatcher(client)
        incr, check = batcher.script(INCR_BY), batcher.script(FAILS_ON_NEGATIVE)
        pair = await both(incr(keys=["p"], args=[2]), check(keys=[], args=[3]))
        second = check(keys=[], args=[-2])
        with pytest.raises(ResponseError):
            await both(check(keys=[], args=[-1]), second)
        return pair, batcher.batches, second.cancelled() or second.exception() is not None
    pair, batches, seen = run(scenario, redis_url)
    assert pair == (2, b"3") and batches == 2 and seen


ECHO = "return ARGV"


def test_arguments_reach_the_script_as_redis_py_sends_them(redis_url):
    values = [0.1, 1 / 3, 1e20, -0.0, 2**70, -5, b"\x00\xff", "\u00e9", 3.0, "", 0]

    async def scenario(client):
        batched = await ScriptBatcher(client).script(ECHO)(keys=[], args=values)
        return batched, await client.register_script(ECHO)(keys=[], args=values)
    batched, plain = run(scenario, redis_url)
    assert batched == plain and len(batched) == len(values)


def test_an_argument_redis_cannot_take_fails_the_batch_with_a_redis_error(redis_url):
    async def scenario(client):
        echo = ScriptBatcher(client).script(ECHO)
        results = await asyncio.gather(echo(keys=[], args=[None]), echo(keys=[], args=[1]), return_exceptions=True)
        return results, await echo(keys=[], args=[2])
    results, after = run(scenario, redis_url)
    assert all(isinstance(r, DataError) for r in results) and after == [b"2"]


def test_a_read_cut_part_way_leaves_no_reply_for_the_next_batch(redis_url):
    """The first reply of a batch comes, the second times out: every caller of it fails, and the next
    batch on the same client reads its own replies (the cut connection was not put back with one unread)."""
    async def scenario(_):
        client = aioredis.Redis.from_url(redis_url, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
        try:
            batcher = ScriptBatcher(client)
            incr, slow = batcher.script(INCR_BY), batcher.script(SLOW)
            await incr(keys=["cut"], args=[0])                       # loads the scripts, opens the connection
            await slow(keys=[], args=[0])
            first = await asyncio.gather(incr(keys=["cut"], args=[1]), slow(keys=[], args=[800_000]),
                                         return_exceptions=True)
            await asyncio.sleep(0.8)                                 # the slow script ends meanwhile
            return first, await asyncio.gather(incr(keys=["cut"], args=[10]), incr(keys=["cut"], args=[100]))
        finally:
            await client.aclose()
    first, then = run(scenario, redis_url)
    assert all(isinstance(r, (TimeoutError, aioredis.TimeoutError)) for r in first)
    assert then == [11, 111]          # the cut batch ran in Redis (cut = 1); these are their own replies
