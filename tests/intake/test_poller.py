"""The poller against the local Bot API server (in-thread) and the real Redis: storing, 401, 5xx, 409,
bad UTF-8, a leftover webhook."""
from __future__ import annotations

import asyncio
import time

import pytest

from botrunner.errors import ApiError, FatalApiError
from botrunner.intake import poller as poller_module
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.poller import Poller
from botrunner.intake.store import Intake
from botrunner.redis_keys import Keys
from tests.aio import run
from tests.key_events import key_events

KEYS = Keys.for_token("123:abc")


# --- the poller against the local Bot API server ---

TOKEN = "123:abc"


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


def test_poller_survives_5xx_and_409(redis_url, redis_client, emulator):
    emu, control = emulator
    control.add_fault("getUpdates", error_code=502, description="Bad Gateway", times=2)
    control.inject_command(TOKEN, 1, "start")
    stored, _ = poll_for(redis_url, emu.url, 4)
    assert stored == 1
    control.add_fault("getUpdates", error_code=409, description="Conflict: terminated by other getUpdates request",
                      times=1)
    control.inject_command(TOKEN, 1, "start")
    with key_events(redis_client, KEYS.poll_lease) as events:
        async def scenario(client):
            poller = Poller(PollLease(client, KEYS, "w", 2000), Intake(client, KEYS), emu.url, TOKEN, 4, 1)
            task = asyncio.create_task(poller.run())
            await until(lambda: poller.updates_stored == 1, 20)     # polled again once the lease expired
            poller.stop()
            await asyncio.wait_for(task, 10)
            return poller.updates_stored
        assert run(scenario, redis_url) == 1
        # after the 409 the lease was left to expire (not deleted); the stop at the end deleted the new one
        assert events() == ["expired", "del"]


async def until(predicate, timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.02)


def test_a_failed_renewal_cancels_the_poll_in_flight(redis_url, emulator, monkeypatch):
    emu, _ = emulator
    polls: list[str] = []                                  # "sent", then "cancelled" when it is
    real_call = poller_module.call_api

    async def recording_call(session, base, method, params, timeout):
        polls.append("sent")
        try:
            return await real_call(session, base, method, params, timeout)
        except asyncio.CancelledError:
            polls.append("cancelled")
            raise
    monkeypatch.setattr(poller_module, "call_api", recording_call)

    async def scenario(client):
        lease = PollLease(client, KEYS, "w", 1500)         # renewed every 0.5 s
        poller = Poller(lease, Intake(client, KEYS), emu.url, TOKEN, 4, 1)
        poller.timeout = 40                                 # a poll far longer than any renewal round
        task = asyncio.create_task(poller.run())
        await until(lambda: polls, 20, "the first getUpdates")
        await client.set(KEYS.poll_lease, "999:intruder")   # the next renewal finds another value
        await until(lambda: "cancelled" in polls, 20, "the poll in flight to be cancelled")
        value_after = lease.value
        poller.stop()
        await asyncio.wait_for(task, 10)
        return value_after, await client.get(KEYS.poll_lease)
    value_after, key = run(scenario, redis_url)
    assert polls == ["sent", "cancelled"]                    # and no poll while another worker holds the lease
    assert value_after is None and key == b"999:intruder"   # the other holder's lease is not touched


def test_getupdates_429_waits_retry_after(redis_url, emulator, monkeypatch):
    emu, control = emulator
    control.add_fault("getUpdates", error_code=429, retry_after=2, times=1)
    control.inject_command(TOKEN, 1, "start")
    calls: list[tuple[float, float, str]] = []
    real_call = poller_module.call_api

    async def recording_call(session, base, method, params, timeout):
        started = time.monotonic()
        try:
            result = await real_call(session, base, method, params, timeout)
        except ApiError as exc:
            calls.append((started, time.monotonic(), f"error {exc.code}"))
            raise
        calls.append((started, time.monotonic(), "ok"))
        return result
    monkeypatch.setattr(poller_module, "call_api", recording_call)

    async def scenario(client):
        poller = Poller(PollLease(client, KEYS, "w", 2000), Intake(client, KEYS), emu.url, TOKEN, 4, 1)
        task = asyncio.create_task(poller.run())
        await until(lambda: poller.updates_stored == 1, 20, "the update after the 429")
        poller.stop()
        await asyncio.wait_for(task, 10)
    run(scenario, redis_url)
    assert calls[0][2] == "error 429" and calls[1][2] == "ok"
    assert calls[1][0] - calls[0][1] >= 2.0             # retry_after honoured (the 5xx backoff starts at 0.5 s)


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
