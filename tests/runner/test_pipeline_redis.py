"""Component tests on the real Redis: poll lease, intake Lua, lane leases, completion, dead letters,
processing of one entry, and the poller against the local Bot API server (in-thread)."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis.asyncio as aioredis

from botrunner.bot.context import Services
from botrunner.bot.router import Router
from botrunner.bot.states import MemoryStates
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.poller import FatalApiError, Poller
from botrunner.intake.store import Intake, LeaseLost, prepare
from botrunner.lanes.chat_order import Job
from botrunner.lanes.leases import LaneLeases
from botrunner.processing.completion import Completion
from botrunner.processing.processor import Processor
from botrunner.redis_keys import GROUP, Keys
from tests.runner.test_units import message

KEYS = Keys.for_token("123:abc")


def run(coro_fn, redis_url):
    async def main():
        client = aioredis.from_url(redis_url)
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()
    return asyncio.run(main())


# --- poll lease ---

def test_poll_lease_is_exclusive_fenced_and_released(redis_url):
    async def scenario(client):
        a = PollLease(client, KEYS, "a", 2000)
        b = PollLease(client, KEYS, "b", 2000)
        assert await a.acquire() and a.held
        assert not await b.acquire()
        assert await a.renew()
        await a.release()
        assert not a.held
        assert await b.acquire()
        assert b.fence > a.fence                       # every acquisition has a larger fencing token
        await client.set(KEYS.poll_lease, "999:intruder")
        assert not await b.renew() and not b.held      # a renewal that finds another value stops it
        return True
    assert run(scenario, redis_url)


def test_poll_lease_expires_when_its_holder_dies(redis_url):
    async def scenario(client):
        dead = PollLease(client, KEYS, "dead", 1000)
        assert await dead.acquire()
        other = PollLease(client, KEYS, "other", 1000)
        assert not await other.acquire()
        await asyncio.sleep(1.2)
        return await other.acquire()
    assert run(scenario, redis_url)


# --- intake ---

def test_intake_stores_dedups_and_sets_offset(redis_url, redis_client):
    async def scenario(client):
        lease = PollLease(client, KEYS, "a", 5000)
        await lease.acquire()
        intake = Intake(client, KEYS)
        batch = prepare([message(1, 10, "a"), message(2, 11, "b"), message(3, 10, "c")], 4, 0)
        assert await intake.store(batch, lease.value) == 3
        again = prepare([message(3, 10, "c"), message(4, 10, "d")], 4, 4)
        assert await intake.store(again, lease.value) == 1       # 3 was seen already
        return await intake.offset()
    assert run(scenario, redis_url) == 5
    stored = [json.loads(f[b"update"])["update_id"] for n in range(4)
              for _, f in redis_client.xrange(KEYS.lane(n))]
    assert sorted(stored) == [1, 2, 3, 4]
    lane_of_10 = [n for n in range(4) if redis_client.xlen(KEYS.lane(n)) and
                  json.loads(redis_client.xrange(KEYS.lane(n))[0][1][b"update"])["message"]["chat"]["id"] == 10][0]
    assert [json.loads(f[b"update"])["update_id"] for _, f in redis_client.xrange(KEYS.lane(lane_of_10))] == [1, 3, 4]


def test_intake_refuses_a_stale_lease(redis_url, redis_client):
    async def scenario(client):
        old = PollLease(client, KEYS, "old", 5000)
        await old.acquire()
        stale_value = old.value
        await client.delete(KEYS.poll_lease)
        new = PollLease(client, KEYS, "new", 5000)
        await new.acquire()
        with pytest.raises(LeaseLost):
            await Intake(client, KEYS).store(prepare([message(1, 1, "x")], 4, 0), stale_value)
        return True
    assert run(scenario, redis_url)
    assert redis_client.get(KEYS.poll_offset) is None
    assert sum(redis_client.xlen(KEYS.lane(n)) for n in range(4)) == 0


# --- lanes ---

def test_lane_lease_exclusive_and_claims_pending_in_order(redis_url, redis_client):
    async def scenario(client):
        old = LaneLeases(client, KEYS, "old", 2, 1000)
        await old.ensure_groups()
        for i in range(5):
            await client.xadd(KEYS.lane(0), {"update_id": i, "update": "{}"})
        assert await old.acquire(0)
        await client.xreadgroup(GROUP, "old", {KEYS.lane(0): ">"}, count=3)   # old read 3, then died
        new = LaneLeases(client, KEYS, "new", 2, 1000)
        assert not await new.acquire(0)
        await asyncio.sleep(1.1)
        assert await new.acquire(0)
        claimed = await new.claim_pending(0)
        rest = await client.xreadgroup(GROUP, "new", {KEYS.lane(0): ">"})
        return [int(f[b"update_id"]) for _, f in claimed], [int(f[b"update_id"]) for _, f in rest[0][1]]
    claimed, rest = run(scenario, redis_url)
    assert claimed == [0, 1, 2] and rest == [3, 4]
    consumers = [c["name"] for c in redis_client.xinfo_consumers(KEYS.lane(0), GROUP)]
    assert consumers == [b"new"]                 # the dead owner's consumer was forgotten


def test_lane_renewal_reports_lost_lanes(redis_url):
    async def scenario(client):
        leases = LaneLeases(client, KEYS, "w", 3, 5000)
        for n in range(3):
            assert await leases.acquire(n)
        await client.set(KEYS.lane_owner(1), "thief")
        lost = await leases.renew()
        return lost, leases.held, leases.is_valid(0), leases.is_valid(1)
    assert run(scenario, redis_url) == ([1], [0, 2], True, False)


def test_trim_drops_only_acknowledged_entries(redis_url, redis_client):
    async def scenario(client):
        leases = LaneLeases(client, KEYS, "w", 1, 5000)
        await leases.ensure_groups()
        ids = [await client.xadd(KEYS.lane(0), {"update_id": i, "update": "{}"}) for i in range(4)]
        await client.xreadgroup(GROUP, "w", {KEYS.lane(0): ">"}, count=3)
        await client.xack(KEYS.lane(0), GROUP, ids[0], ids[2])     # 1 is still pending, 3 undelivered
        await leases.trim(0)
        return [i for i, _ in await client.xrange(KEYS.lane(0))], ids
    left, ids = run(scenario, redis_url)
    assert left == ids[1:]


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
        raise RuntimeError("handler bug")

    async def scenario(client):
        await processor_for(client, router, attempts=3).process(await stored_job(client, message(7, 1, "x")))
    run(scenario, redis_url)
    assert tries == [7, 7, 7]
    dead = redis_client.xrange(KEYS.dead)
    assert len(dead) == 1 and b"handler bug" in dead[0][1][b"error"] and dead[0][1][b"attempts"] == b"3"
    assert int(redis_client.get(KEYS.dead_count)) == 1
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0
    assert not redis_client.exists(KEYS.done(7))


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


# --- the poller against the local Bot API server ---

TOKEN = "123:abc"


@pytest.fixture
def emulator():
    from botrunner.emulator import running_emulator
    from botrunner.emulator.client import ControlClient
    with running_emulator(port=0) as emu:
        with ControlClient(emu.url) as control:
            yield emu, control


def poll_for(redis_url, emu_url, seconds: float, token: str = TOKEN):
    async def scenario(client):
        lease = PollLease(client, Keys.for_token(token), "w", 2000)
        poller = Poller(lease, Intake(client, Keys.for_token(token)), emu_url, token, 4, 1)
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(seconds)
        poller.stop()
        await asyncio.wait_for(task, 10)
        return poller.updates_stored, await client.get(Keys.for_token(token).poll_lease)
    return run(scenario, redis_url)


def test_poller_stores_updates_and_releases_on_stop(redis_url, redis_client, emulator):
    emu, control = emulator
    for user in range(5):
        control.inject_command(TOKEN, 100 + user, "start")
    stored, lease_after = poll_for(redis_url, emu.url, 1.5)
    assert stored == 5 and lease_after is None
    assert int(redis_client.get(KEYS.poll_offset)) == 6
    assert control.poll_stats(TOKEN)["max_concurrent"] == 1


def test_poller_treats_401_as_fatal(redis_url, emulator):
    emu, control = emulator
    control.add_fault("getUpdates", error_code=401, description="Unauthorized", times=None)

    async def scenario(client):
        lease = PollLease(client, KEYS, "w", 2000)
        with pytest.raises(FatalApiError):
            await asyncio.wait_for(Poller(lease, Intake(client, KEYS), emu.url, TOKEN, 4, 1).run(), 10)
        return await client.get(KEYS.poll_lease)
    assert run(scenario, redis_url) is None


def test_poller_survives_5xx_and_409(redis_url, emulator):
    emu, control = emulator
    control.add_fault("getUpdates", error_code=502, description="Bad Gateway", times=2)
    control.inject_command(TOKEN, 1, "start")
    stored, _ = poll_for(redis_url, emu.url, 4)
    assert stored == 1
    control.add_fault("getUpdates", error_code=409, description="Conflict: terminated by other getUpdates request",
                      times=1)
    control.inject_command(TOKEN, 1, "start")

    async def scenario(client):
        lease = PollLease(client, KEYS, "w", 2000)
        poller = Poller(lease, Intake(client, KEYS), emu.url, TOKEN, 4, 1)
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(0.5)
        stopped_at_once = lease.value is None        # a 409 stops polling at once ...
        await asyncio.sleep(4)                        # ... and the lease is taken again after it expires
        poller.stop()
        await asyncio.wait_for(task, 10)
        return stopped_at_once, poller.updates_stored
    assert run(scenario, redis_url) == (True, 1)


def test_poller_survives_a_batch_with_bad_utf8(redis_url, redis_client, port):
    """A tiny fake Bot API answering getUpdates with bytes that are not UTF-8 (the emulator can't)."""
    from aiohttp import web

    body = (b'{"ok":true,"result":[{"update_id":41,"message":{"message_id":1,"date":0,'
            b'"chat":{"id":5,"type":"private"},"text":"bad \xff\xfe bytes"}}]}')
    served = []

    async def get_updates(request):
        served.append(request.query.get("offset") or (await request.json()).get("offset"))
        return web.Response(body=body if len(served) == 1 else b'{"ok":true,"result":[]}',
                            content_type="application/json")

    async def scenario(client):
        app = web.Application()
        app.router.add_post("/bot123:abc/getUpdates", get_updates)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            poller = Poller(PollLease(client, KEYS, "w", 2000), Intake(client, KEYS), f"http://127.0.0.1:{port}",
                            "123:abc", 4, 0)
            task = asyncio.create_task(poller.run())
            await asyncio.sleep(1.0)
            poller.stop()
            await asyncio.wait_for(task, 10)
            return poller.updates_stored
        finally:
            await runner.cleanup()
    assert run(scenario, redis_url) == 1
    assert int(redis_client.get(KEYS.poll_offset)) == 42
    assert served[1] == 42                            # the next poll confirmed the stored batch


def test_a_leftover_webhook_is_explained_and_nothing_is_polled(redis_url, emulator):
    """Migrating from a webhook bot: getUpdates answers 409 until deleteWebhook; the log says what to do."""
    import httpx
    from loguru import logger
    emu, control = emulator
    assert httpx.post(f"{emu.url}/bot{TOKEN}/setWebhook", json={"url": "https://old.example/hook"}).json()["ok"]
    control.inject_command(TOKEN, 1, "start")
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="ERROR")

    async def scenario(client):
        poller = Poller(PollLease(client, KEYS, "w", 2000), Intake(client, KEYS), emu.url, TOKEN, 4, 1)
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(1.0)
        poller.stop()
        await asyncio.wait_for(task, 10)
        return poller.updates_stored
    try:
        assert run(scenario, redis_url) == 0
    finally:
        logger.remove(sink)
    assert any("A webhook is set for this bot" in line and "deleteWebhook" in line for line in lines)
    assert control.state(TOKEN)["pending_updates"] == 1          # nothing confirmed, nothing dropped
