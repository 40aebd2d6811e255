"""The folded hot path: one reply costs three Redis round trips (begin with the journal read, the
limiter's fenced slot, the completion with the last reply's journal entry), and the guarantees the
separate round trips gave still hold (fence, journal, blocked flag). Real Redis, real sender against
the local Bot API server."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis

from botrunner.bot.context import Services
from botrunner.bot.router import Router
from botrunner.bot.states import MemoryStates
from botrunner.lanes.chat_order import Job
from botrunner.lanes.leases import Fence
from botrunner.processing.completion import Completion
from botrunner.processing.processor import Processor
from botrunner.redis_batch import ScriptBatcher
from botrunner.redis_keys import GROUP, Keys
from botrunner.sender.client import BotApiClient
from botrunner.sender.flood_limiter import FloodLimiter, Limits
from botrunner.sender.journal import OutboxJournal, call_key
from botrunner.sender.sender import Sender
from tests.updates import message

TOKEN = "778:hot-path"
KEYS = Keys.for_token(TOKEN)
OWNER = "worker-a"


class CountingRedis(aioredis.Redis):
    """Counts the commands sent on their own (each one a round trip); the batcher's pipelines are counted
    by `ScriptBatcher.batches` (one round trip each, on one Redis)."""

    sent = 0

    async def execute_command(self, *args, **options):
        CountingRedis.sent += 1
        return await super().execute_command(*args, **options)


def reply_router(state: bool = False) -> Router:
    router = Router()

    @router.default()
    def hello(ctx):
        ctx.reply(f"hello {ctx.update_id}")
        if state:
            ctx.set_state("asked")
    return router


async def stored_job(client, update: dict, lane: int = 0) -> Job:
    try:
        await client.xgroup_create(KEYS.lane(lane), GROUP, id="0", mkstream=True)
    except aioredis.ResponseError:
        pass
    await client.xadd(KEYS.lane(lane), {"update_id": update["update_id"], "update": json.dumps(update)})
    entry_id, fields = (await client.xreadgroup(GROUP, "w", {KEYS.lane(lane): ">"}, count=1))[0][1][0]
    return Job(lane, 1, entry_id.decode(), fields)


def with_processor(redis_url, emu_url, scenario, router=None, owner=OWNER):
    """Run `scenario(client, processor, sender)`: a processor wired to a real sender as a worker wires it."""
    async def main():
        client = CountingRedis.from_url(redis_url)
        batcher = ScriptBatcher(client)          # as the worker wires it: scripts of one loop turn, one pipeline
        sender = Sender(BotApiClient(emu_url, TOKEN), FloodLimiter(client, KEYS, Limits(enabled=False), batcher),
                        OutboxJournal(client, KEYS, batcher))
        await sender.open()
        processor = Processor(router or reply_router(), Completion(client, KEYS, batcher), sender.send,
                              ThreadPoolExecutor(2), Services(), MemoryStates(), 3, lambda lane: True,
                              retry_delay_s=0.01, deliver=sender.deliver,
                              fence_for=lambda lane: Fence(KEYS.lane_owner(lane), owner, lane))
        processor.batcher = batcher              # round_trips() reads it
        processor.on_user_flag = sender.user_flag_changed
        try:
            return await scenario(client, processor, sender)
        finally:
            await sender.close()
            await client.aclose()
    return asyncio.run(main())


def round_trips(processor) -> int:
    return CountingRedis.sent + processor.batcher.batches


def chats(control, *ids: int) -> None:
    """The local server knows a chat once its user wrote (else: 400 chat not found)."""
    for chat in ids:
        control.inject_message(TOKEN, chat, "hi")


def replies(control, chat: int) -> list[str]:
    return [e["text"] for e in control.sent(TOKEN, chat) if e["method"] == "sendMessage"]


def test_a_one_reply_update_costs_three_redis_round_trips(redis_url, emulator, redis_client):
    emu, control = emulator
    chats(control, 4500, 4501)
    redis_client.set(KEYS.lane_owner(0), OWNER)

    async def scenario(client, processor, sender):
        await processor.process(await stored_job(client, message(500, 4500, "hi")))   # loads the scripts
        job = await stored_job(client, message(501, 4501, "hi"))
        before = round_trips(processor)
        await processor.process(job)
        return round_trips(processor) - before
    assert with_processor(redis_url, emu.url, scenario) == 3     # begin, limiter slot, complete (it was 5)
    assert replies(control, 4501) == ["hello 501"]
    assert redis_client.hexists(KEYS.done(0, 501), KEYS.bucket_field(501))
    assert not redis_client.exists(KEYS.send_journal(0, 501))          # dropped with the completion


def test_a_state_write_after_the_reply_keeps_the_reply_journaled_on_its_own(redis_url, emulator, redis_client):
    emu, control = emulator
    chats(control, 4502)
    redis_client.set(KEYS.lane_owner(0), OWNER)
    journaled = []

    async def scenario(client, processor, sender):
        confirm = sender.journal.confirm

        async def spy(update_id, key, outcome, fence=None):
            journaled.append((update_id, outcome))
            await confirm(update_id, key, outcome, fence)
        sender.journal.confirm = spy
        await processor.process(await stored_job(client, message(502, 4502, "hi")))
    with_processor(redis_url, emu.url, scenario, router=reply_router(state=True))
    # the state write comes between the reply and the completion: a crash there must not resend it
    assert journaled == [(502, "sent")] and replies(control, 4502) == ["hello 502"]


def test_the_completion_script_journals_the_last_reply_when_the_lane_moved(redis_url, emulator, redis_client):
    emu, control = emulator
    chats(control, 4503)
    redis_client.set(KEYS.lane_owner(0), OWNER)

    async def first(client, processor, sender):
        send_call = sender.send_call

        async def then_lose_the_lane(*args, **kwargs):
            outcome = await send_call(*args, **kwargs)
            await client.set(KEYS.lane_owner(0), "worker-b")      # taken over while the reply was out
            return outcome
        sender.send_call = then_lose_the_lane
        job = await stored_job(client, message(503, 4503, "hi"))
        await processor.process(job)
        return job
    job = with_processor(redis_url, emu.url, first)
    assert replies(control, 4503) == ["hello 503"]
    assert list(redis_client.hvals(KEYS.send_journal(0, 503))) == [b"sent"]     # kept although fenced out
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 1         # left to the new owner

    async def redelivered(client, processor, sender):
        await processor.process(job)
    with_processor(redis_url, emu.url, redelivered, owner="worker-b")
    assert replies(control, 4503) == ["hello 503"]                              # not sent twice
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_a_worker_that_lost_the_lane_sends_nothing(redis_url, emulator, redis_client):
    emu, control = emulator
    chats(control, 4504)
    redis_client.set(KEYS.lane_owner(0), "worker-b")

    async def scenario(client, processor, sender):
        await processor.process(await stored_job(client, message(504, 4504, "hi")))
    with_processor(redis_url, emu.url, scenario)
    assert replies(control, 4504) == []                          # the limiter's slot is fenced
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 1
    assert not redis_client.hexists(KEYS.done(0, 504), KEYS.bucket_field(504))


def test_begin_clears_the_blocked_flag_of_a_user_who_writes_and_tells_the_bot(redis_url, emulator, redis_client):
    emu, control = emulator
    chats(control, 4505)
    redis_client.set(KEYS.lane_owner(0), OWNER)
    redis_client.sadd(KEYS.send_blocked, "4505")
    told = []

    async def scenario(client, processor, sender):
        sender.on_blocked = lambda user, blocked: told.append((user, blocked))
        await processor.process(await stored_job(client, message(505, 4505, "hi again")))
    with_processor(redis_url, emu.url, scenario)
    assert told == [(4505, False)] and not redis_client.sismember(KEYS.send_blocked, "4505")
    assert replies(control, 4505) == ["hello 505"]              # the reply is not skipped as blocked


def test_a_redelivery_reads_the_journal_again_before_sending(redis_url, emulator, redis_client):
    """The previous owner's last confirmation may land while the new owner's handler runs: a redelivered
    update (an attempt counted before) checks the journal right before its sends, not only at begin."""
    emu, control = emulator
    chats(control, 4506)
    redis_client.set(KEYS.lane_owner(0), "worker-b")
    router = Router()

    @router.default()
    def hello(ctx):
        # the old owner's reply to this update, confirmed only now (it was in flight at the hand-over)
        redis_client.hset(KEYS.send_journal(ctx.update_id),
                          call_key(0, "sendMessage", {"chat_id": 4506, "text": "hello"}), "sent")
        ctx.reply("hello")

    async def scenario(client, processor, sender):
        job = await stored_job(client, message(506, 4506, "hi"))
        await Completion(client, KEYS).begin(0, job.entry_id, 506)     # the old owner's attempt
        await processor.process(job)
    with_processor(redis_url, emu.url, scenario, router=router, owner="worker-b")
    assert replies(control, 4506) == []                                # not sent a second time
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0
