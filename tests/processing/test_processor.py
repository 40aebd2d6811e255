"""One entry through the processor on the real Redis: completion marker + ack, retries, dead letters."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis.asyncio as aioredis

from botrunner.bot.context import Services
from botrunner.bot.router import Router
from botrunner.bot.states import MemoryStates
from botrunner.lanes.chat_order import Job
from botrunner.processing.completion import Completion
from botrunner.processing.processor import Processor
from botrunner.redis_keys import GROUP, Keys
from tests.aio import run
from tests.updates import message

KEYS = Keys.for_token("123:abc")


# --- completion, dead letters, processing ---

def processor_for(client, router, attempts=3):
    return Processor(router, Completion(client, KEYS), lambda m, p: asyncio.sleep(0), ThreadPoolExecutor(2),
                     Services(), MemoryStates(), attempts, lambda lane: True, retry_delay_s=0.01)


async def stored_job(client, update: dict | str, lane: int = 0) -> Job:
    try:
        await client.xgroup_create(KEYS.lane(lane), GROUP, id="0", mkstream=True)
    except aioredis.ResponseError:
        pass
    raw = update if isinstance(update, str) else json.dumps(update)
    await client.xadd(KEYS.lane(lane), {"update_id": 7, "update": raw})
    entry_id, fields = (await client.xreadgroup(GROUP, "w", {KEYS.lane(lane): ">"}))[0][1][0]
    return Job(lane, 1, entry_id.decode(), fields)


def test_handled_update_gets_marker_and_ack_and_is_not_handled_twice(redis_url, redis_client):
    handled = []
    router = Router()
    router.default()(lambda ctx: handled.append(ctx.update_id))

    async def scenario(client):
        processor = processor_for(client, router)
        job = await stored_job(client, message(7, 1, "hi"))
        await processor.process(job)
        await processor.process(job)            # a redelivery after a crash
        return True
    run(scenario, redis_url)
    assert handled == [7]
    assert redis_client.exists(KEYS.done(7))
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_failing_handler_is_retried_then_dead_lettered(redis_url, redis_client):
    tries = []
    router = Router()

    @router.default()
    def boom(ctx):
        tries.append(ctx.update_id)
        raise ValueError("handler bug")

    async def scenario(client):
        await processor_for(client, router, attempts=3).process(await stored_job(client, message(7, 1, "x")))
    run(scenario, redis_url)
    assert tries == [7, 7, 7]
    dead = redis_client.xrange(KEYS.dead)
    assert len(dead) == 1 and b"handler bug" in dead[0][1][b"error"] and dead[0][1][b"attempts"] == b"3"
    assert int(redis_client.get(KEYS.dead_count)) == 1
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0
    assert not redis_client.exists(KEYS.done(7))


@pytest.mark.parametrize("raw", ['{"update_id": 7, "message": {"text": "no date, no chat"}}', "not json",
                                 '{"update_id": 7, "message": "a string"}'])
def test_unparseable_update_is_dead_lettered_at_once(redis_url, redis_client, raw):
    router = Router()
    router.default()(lambda ctx: None)

    async def scenario(client):
        await processor_for(client, router).process(await stored_job(client, raw))
    run(scenario, redis_url)
    assert redis_client.xlen(KEYS.dead) == 1
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_update_whose_worker_kept_dying_is_dead_lettered(redis_url, redis_client):
    router = Router()
    router.default()(lambda ctx: pytest.fail("must not run again"))

    async def scenario(client):
        job = await stored_job(client, message(7, 1, "x"))
        await client.hset(KEYS.attempts(0), job.entry_id, 3)     # three workers died on it
        await processor_for(client, router, attempts=3).process(job)
    run(scenario, redis_url)
    assert b"worker died" in redis_client.xrange(KEYS.dead)[0][1][b"error"]
