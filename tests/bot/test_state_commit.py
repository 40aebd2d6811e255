"""In a worker: a handler's conversation writes are stored when its update completes, after its
replies were delivered and never when it raised (its retry sees the state from before)."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import redis
import redis.asyncio as aioredis

from botrunner.bot.context import Context, Services
from botrunner.bot.router import Router
from botrunner.bot.states import Conversation, RedisStates
from botrunner.lanes.chat_order import Job
from botrunner.processing.completion import Completion
from botrunner.processing.processor import Processor
from botrunner.redis_keys import GROUP, Keys
from tests.updates import message

KEYS = Keys.for_token("123:abc")


async def stored_job(client: aioredis.Redis, update: dict) -> Job:
    """The update stored in lane 0 and read by consumer "w", as a worker's lane reader would."""
    await client.xgroup_create(KEYS.lane(0), GROUP, id="0", mkstream=True)
    await client.xadd(KEYS.lane(0), {"update_id": update["update_id"], "update": json.dumps(update)})
    entry_id, fields = (await client.xreadgroup(GROUP, "w", {KEYS.lane(0): ">"}))[0][1][0]
    return Job(0, 1, entry_id.decode(), fields)


def test_state_is_stored_after_delivery_and_only_by_the_attempt_that_succeeded(redis_url, redis_client):
    states = RedisStates(redis.Redis.from_url(redis_url), KEYS.prefix)
    states.put(1, 1, Conversation("amount", {"to": 9}))
    seen: list[tuple[str | None, dict]] = []
    router = Router()

    @router.state("amount")
    def amount(ctx: Context) -> None:
        seen.append((ctx.state, ctx.state_data))
        ctx.clear_state()
        ctx.update_state_data(amount=int(ctx.text))
        ctx.reply("confirm?")
        if len(seen) == 1:
            raise ConnectionError("first attempt dies after its writes were staged")

    at_delivery: list[Conversation] = []

    async def deliver(update_id, data, outbox, fence=None, delivery=None):
        at_delivery.append(states.get(1, 1))

    async def scenario() -> None:
        client = aioredis.from_url(redis_url)
        try:
            processor = Processor(router, Completion(client, KEYS), lambda m, p: asyncio.sleep(0),
                                  ThreadPoolExecutor(2), Services(), states, 3, lambda lane: True,
                                  retry_delay_s=0.01, deliver=deliver)
            await processor.process(await stored_job(client, message(7, 1, "25")))
        finally:
            await client.aclose()
    asyncio.run(scenario())
    assert seen == [("amount", {"to": 9}), ("amount", {"to": 9})]      # the retry saw the state from before
    assert at_delivery == [Conversation("amount", {"to": 9})]          # replies go out before the state write
    assert states.get(1, 1) == Conversation(None, {"to": 9, "amount": 25})
    assert redis_client.hexists(KEYS.done(0, 7), KEYS.bucket_field(7))
