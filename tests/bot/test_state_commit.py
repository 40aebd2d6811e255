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
from botrunner.processing.handler_pool import HandlerPool
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


class CountingExecutor(ThreadPoolExecutor):
    """An executor that counts its submits (thread hops)."""

    submits = 0

    def submit(self, *args, **kwargs):
        self.submits += 1
        return super().submit(*args, **kwargs)


def test_a_bursts_state_writes_queue_for_the_handler_threads_instead_of_a_hop_each(redis_url, redis_client):
    """40 updates of 40 chats that each stage a state (a new user's /start sets the captcha step): their
    writes go through the handler pool's queue, which its busy threads drain, not an executor submit each."""
    states = RedisStates(redis.Redis.from_url(redis_url), KEYS.prefix)
    router = Router()

    @router.update()
    def step(ctx: Context) -> None:
        ctx.set_state("captcha")
        ctx.reply("picture")

    async def deliver(update_id, data, outbox, fence=None, delivery=None):
        await asyncio.sleep(0)

    executor = CountingExecutor(4)

    async def scenario() -> None:
        client = aioredis.from_url(redis_url)
        try:
            processor = Processor(router, Completion(client, KEYS), lambda m, p: asyncio.sleep(0),
                                  HandlerPool(4, 0.0, executor), Services(), states, 3, lambda lane: True,
                                  deliver=deliver)
            await client.xgroup_create(KEYS.lane(0), GROUP, id="0", mkstream=True)
            for chat in range(1, 41):
                update = message(chat, chat, "hi")
                await client.xadd(KEYS.lane(0), {"update_id": chat, "update": json.dumps(update)})
            entries = (await client.xreadgroup(GROUP, "w", {KEYS.lane(0): ">"}))[0][1]
            await asyncio.gather(*(processor.process(Job(0, n, entry_id.decode(), fields))
                                   for n, (entry_id, fields) in enumerate(entries)))
        finally:
            await client.aclose()
    asyncio.run(scenario())
    assert all(states.get(chat, chat).state == "captcha" for chat in range(1, 41))
    assert executor.submits < 20           # handlers and state writes share a few drainers (was 40 hops more)
