"""In a worker: a handler's conversation writes are stored when its update completes, after its
replies were delivered and never when it raised (its retry sees the state from before)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import redis

from botrunner.bot.context import Context, Services
from botrunner.bot.router import Router
from botrunner.bot.states import Conversation, RedisStates
from botrunner.processing.completion import Completion
from botrunner.processing.processor import Processor
from tests.runner.test_pipeline_redis import KEYS, run, stored_job
from tests.runner.test_units import message


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

    async def deliver(update_id, data, outbox):
        at_delivery.append(states.get(1, 1))

    async def scenario(client):
        processor = Processor(router, Completion(client, KEYS), lambda m, p: asyncio.sleep(0), ThreadPoolExecutor(2),
                              Services(), states, 3, lambda lane: True, retry_delay_s=0.01, deliver=deliver)
        await processor.process(await stored_job(client, message(7, 1, "25")))
    run(scenario, redis_url)
    assert seen == [("amount", {"to": 9}), ("amount", {"to": 9})]      # the retry saw the state from before
    assert at_delivery == [Conversation("amount", {"to": 9})]          # replies go out before the state write
    assert states.get(1, 1) == Conversation(None, {"to": 9, "amount": 25})
    assert redis_client.exists(KEYS.done(7))
