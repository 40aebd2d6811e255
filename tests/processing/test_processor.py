"""One entry through the processor on the real Redis: completion marker + ack, retries, dead letters."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis.asyncio as aioredis
import telegram

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

def processor_for(client, router, attempts=3, send=None, services=None, lane_valid=None):
    return Processor(router, Completion(client, KEYS), send or (lambda m, p: asyncio.sleep(0)), ThreadPoolExecutor(2),
                     services or Services(), MemoryStates(), attempts, lane_valid or (lambda lane: True),
                     retry_delay_s=0.01)


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
    assert redis_client.hexists(KEYS.done(0, 7), KEYS.bucket_field(7))
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_failing_handler_is_retried_then_dead_lettered(redis_url, redis_client):
    tries = []
    router = Router()

    @router.default()
    def boom(ctx):
        tries.append(ctx.update_id)
        raise RuntimeError("handler bug")

    async def scenario(client):
        await processor_for(client, router, attempts=3).process(await stored_job(client, message(7, 1, "x")))
    run(scenario, redis_url)
    assert tries == [7, 7, 7]
    dead = redis_client.xrange(KEYS.dead)
    assert len(dead) == 1 and b"handler bug" in dead[0][1][b"error"] and dead[0][1][b"attempts"] == b"3"
    assert int(redis_client.get(KEYS.dead_count)) == 1
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0
    assert not redis_client.hexists(KEYS.done(0, 7), KEYS.bucket_field(7))


def test_deterministic_error_is_answered_and_not_retried(redis_url, redis_client):
    tries, sent = [], []
    router = Router()

    @router.default()
    def overflow(ctx):
        tries.append(ctx.update_id)
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    @router.on_error
    def answer(ctx, exc):
        ctx.reply(f"bad input: {type(exc).__name__}")

    async def scenario(client):
        processor = processor_for(client, router, attempts=5)
        processor.send = lambda method, params: asyncio.sleep(0, sent.append((method, params["text"])))
        await processor.process(await stored_job(client, message(7, 1, "/transfer 99999999999999999999")))
    run(scenario, redis_url)
    assert tries == [7] and sent == [("sendMessage", "bad input: OverflowError")]
    dead = redis_client.xrange(KEYS.dead)
    assert len(dead) == 1 and dead[0][1][b"error"].startswith(b"not retried") and dead[0][1][b"attempts"] == b"1"
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


@pytest.mark.parametrize("raw", ['{"update_id": 7, "message": {"text": "no date, no chat"}}', "not json",
                                 '{"update_id": 7, "message": "a string"}'])
def test_unparseable_update_is_dead_lettered_at_once(redis_url, redis_client, raw):
    ran = []
    router = Router()
    router.default()(lambda ctx: ran.append(ctx.update_id))

    async def scenario(client):
        await processor_for(client, router, attempts=3).process(await stored_job(client, raw))
    run(scenario, redis_url)
    dead = redis_client.xrange(KEYS.dead)
    assert len(dead) == 1 and dead[0][1][b"attempts"] == b"1"     # at once: no retries for what cannot parse
    assert ran == [] and redis_client.hlen(KEYS.attempts(0)) == 0
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_a_reply_handler_never_parses_the_update_and_a_reader_parses_it_once(redis_url, redis_client, monkeypatch):
    parses = []
    real = telegram.Update.de_json
    monkeypatch.setattr(telegram.Update, "de_json", lambda data, bot=None: parses.append(1) or real(data, bot))
    router = Router()
    router.command("start")(lambda ctx: ctx.reply(f"hi {ctx.user_id} {ctx.args}"))
    router.default()(lambda ctx: ctx.reply(ctx.update.effective_user.first_name + ctx.update.effective_user.first_name))
    sent = []

    async def scenario(client):
        processor = processor_for(client, router, send=lambda m, p: asyncio.sleep(0, sent.append(p["text"])))
        await processor.process(await stored_job(client, message(7, 1, "/start ref9")))
        assert parses == []
        await processor.process(await stored_job(client, message(8, 1, "plain"), lane=1))
    run(scenario, redis_url)
    assert sent == ["hi 1 ['ref9']", "AnnAnn"] and parses == [1]


def test_a_defect_found_when_a_handler_reads_the_update_dead_letters_it_at_once(redis_url, redis_client):
    """The shape check passes an update with a malformed entity; the handler's read of ctx.update
    fails to parse it: dead-lettered after one attempt, nothing sent, never retried."""
    ran, sent = [], []
    router = Router()

    @router.default()
    def handler(ctx):
        ran.append(ctx.update_id)
        ctx.reply("before the read")
        ctx.reply(str(ctx.update.effective_message.entities))
    bad = message(7, 1, "x")
    bad["message"]["entities"] = [{"type": "bold"}]        # no offset, no length

    async def scenario(client):
        processor = processor_for(client, router, send=lambda m, p: asyncio.sleep(0, sent.append(p)))
        await processor.process(await stored_job(client, bad))
    run(scenario, redis_url)
    dead = redis_client.xrange(KEYS.dead)
    assert ran == [7] and sent == []
    assert len(dead) == 1 and dead[0][1][b"attempts"] == b"1" and b"not a valid Telegram Update" in dead[0][1][b"error"]
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


def test_flush_hooks_run_before_the_replies_and_the_ack(redis_url, redis_client):
    """Replies go out only once the handler's writes are durable, and the ack comes after both."""
    seen = []

    def progress(step):      # what Redis says about the entry at each step: (step, still pending, done marker)
        done = redis_client.hexists(KEYS.done(0, 7), KEYS.bucket_field(7))
        seen.append((step, redis_client.xpending(KEYS.lane(0), GROUP)["pending"], done))
    router = Router()
    router.default()(lambda ctx: ctx.reply("saved"))
    services = Services()
    services.add_flush_hook(lambda: progress("flush"))

    async def send(method, params):
        progress(f"{method} {params['text']}")

    async def scenario(client):
        await processor_for(client, router, send=send, services=services).process(
            await stored_job(client, message(7, 1, "x")))
    run(scenario, redis_url)
    assert seen == [("flush", 1, 0), ("sendMessage saved", 1, 0)]
    assert redis_client.hexists(KEYS.done(0, 7), KEYS.bucket_field(7))
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_a_failing_flush_prevents_the_replies_and_the_ack(redis_url, redis_client):
    flushes, sent = [], []
    router = Router()
    router.default()(lambda ctx: ctx.reply(f"attempt {len(flushes) + 1}"))
    services = Services()

    def flush():
        flushes.append(redis_client.xpending(KEYS.lane(0), GROUP)["pending"])
        if len(flushes) < 3:
            raise ConnectionError("the database is away")
    services.add_flush_hook(flush)

    async def send(method, params):
        sent.append(params["text"])

    async def scenario(client):
        await processor_for(client, router, attempts=5, send=send, services=services).process(
            await stored_job(client, message(7, 1, "x")))
    run(scenario, redis_url)
    assert flushes == [1, 1, 1]                  # still pending (not acknowledged) at every retry
    assert sent == ["attempt 3"]                 # the failed attempts' replies were never sent
    assert redis_client.hexists(KEYS.done(0, 7), KEYS.bucket_field(7)) and redis_client.xlen(KEYS.dead) == 0


def test_no_handler_starts_on_a_lane_whose_lease_is_not_locally_valid(redis_url, redis_client):
    ran = []
    router = Router()
    router.default()(lambda ctx: ran.append(ctx.update_id))

    async def scenario(client):
        await processor_for(client, router, lane_valid=lambda lane: False).process(
            await stored_job(client, message(7, 1, "x")))
    run(scenario, redis_url)
    assert ran == [] and redis_client.hlen(KEYS.attempts(0)) == 0       # not even an attempt counted
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 1   # left for the lane's next owner
    assert not redis_client.hexists(KEYS.done(0, 7), KEYS.bucket_field(7))


def test_a_retry_does_not_start_once_the_lane_lease_lapsed(redis_url, redis_client):
    valid, tries = [True], []
    router = Router()

    @router.default()
    def fails_once_then_the_lease_lapses(ctx):
        tries.append(ctx.update_id)
        valid[0] = False                          # the keeper could not renew while this handler ran
        raise RuntimeError("first attempt fails")           # retryable (a ValueError is not retried)

    async def scenario(client):
        await processor_for(client, router, attempts=5, lane_valid=lambda lane: valid[0]).process(
            await stored_job(client, message(7, 1, "x")))
    run(scenario, redis_url)
    assert tries == [7]
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 1 and redis_client.xlen(KEYS.dead) == 0
