"""Broadcast slots many at a time (BroadcastSlots on the real Redis) and the pacer that sends a page with
them (BroadcastPacer, against the local Bot API server): the rate, the catch-up of a late wake-up, the
window log, blocked/busy/frozen chats, and every call sent once, in order."""
from __future__ import annotations

import asyncio
import time

import pytest

from botrunner.redis_keys import Keys
from botrunner.sender.broadcast_pacer import BroadcastPacer
from botrunner.sender.broadcast_slots import BroadcastSlots
from botrunner.sender.client import BotApiClient
from botrunner.sender.flood_limiter import CATCH_UP_MS, FloodLimiter, Limits
from botrunner.sender.journal import OutboxJournal
from botrunner.sender.sender import BULK_FLAG, Sender
from tests.sender.test_flood_limiter import _window_counts, run


def slots_for(client, keys: Keys, **limits) -> BroadcastSlots:
    return BroadcastSlots(FloodLimiter(client, keys, Limits(**{"chat_rate": 0, **limits})))


def test_a_take_hands_out_only_the_slots_due_now(redis_url):
    """From idle: one slot now (no burst), the rest of the ask not looked at, and when the next is due."""
    async def scenario(client):
        slots = slots_for(client, Keys.for_token("560:due"), global_rate=10)
        first = await slots.take(list(range(1, 21)))
        second = await slots.take(list(range(21, 41)))
        return first, second
    (statuses, wait), (again, wait_again) = run(redis_url, scenario)
    assert statuses == [1] and 0.05 <= wait <= 0.101                  # the next slot 100 ms on
    assert again == [] and 0 < wait_again <= 0.101


def test_a_take_woken_late_catches_up_the_slots_it_missed(redis_url):
    """Woken ~100 ms late at 100/s, one take sends the ~10 slots of the schedule it missed (with the old
    20 ms catch-up it started afresh: 1), keeps the schedule (the next slot follows the missed ones, not
    now + 10 ms) and every second of slots within the rate; idle beyond the catch-up, it starts afresh."""
    keys = Keys.for_token("560:catchup")
    tat_key = keys.send_tat("global", "")
    assert CATCH_UP_MS >= 200

    async def scenario(client):
        slots = slots_for(client, keys, global_rate=100)
        first, _ = await slots.take([1])
        scheduled = float(await client.get(tat_key))                 # the next slot, 10 ms on
        started = time.monotonic()
        await asyncio.sleep(0.1)
        late, _ = await slots.take(list(range(2, 102)))
        slept = time.monotonic() - started
        after = float(await client.get(tat_key))
        await asyncio.sleep(CATCH_UP_MS / 1000 + 0.2)                   # idle beyond the catch-up
        fresh, _ = await slots.take(list(range(200, 300)))
        log = [float(t) for t in await client.lrange(keys.send_tat("global", "log"), 0, -1)]
        return first, scheduled, late, slept, after, fresh, log
    first, scheduled, late, slept, after, fresh, log = run(redis_url, scenario)
    assert first == [1] and all(status == 1 for status in late + fresh)
    if slept * 1000 < CATCH_UP_MS - 20:                                # (a machine stalled beyond it: afresh)
        assert slept * 100 - 2 <= len(late) <= slept * 100 + 2, (len(late), slept)   # the slots missed since
    assert after == pytest.approx(scheduled + 10 * len(late))           # the schedule kept
    assert fresh == [1]                                                 # no burst from idle
    assert _window_counts(log, 1000) <= 100
    assert log == sorted(log, reverse=True) and len(set(log)) == len(log)   # one slot each, never twice


def test_takes_and_notifications_together_keep_every_second_within_the_rate(redis_url):
    """Late wake-ups (up to 200 ms) and notifications' bursts mixed in: at most 20 slots in any second."""
    keys = Keys.for_token("560:window")

    async def scenario(client):
        limiter = FloodLimiter(client, keys, Limits(chat_rate=0, global_rate=20, global_burst=10, bulk_reserve=4))
        slots = BroadcastSlots(limiter)
        started, n = time.monotonic(), 0
        while time.monotonic() - started < 2.2:
            if n % 3 == 0:
                for chat in range(4):
                    status, _ = await limiter.acquire(10_000 + 10 * n + chat, True)
                    assert status == 1
            await slots.take([20_000 + 100 * n + i for i in range(30)])
            n += 1
            await asyncio.sleep((0.03, 0.2, 0.08)[n % 3])
        return await client.lrange(keys.send_tat("global", "log"), 0, -1)
    log = [float(t) for t in run(redis_url, scenario)]
    assert len(log) == 20 and _window_counts(log, 1000) <= 20


def test_blocked_busy_and_frozen_chats(redis_url):
    keys = Keys.for_token("560:chats")

    async def scenario(client):
        limiter = FloodLimiter(client, keys, Limits(chat_rate=1, chat_burst=1, global_rate=0))
        slots = BroadcastSlots(limiter)
        await limiter.mark_blocked(2)
        assert (await limiter.acquire(3, True))[0] == 1                  # chat 3 used its slot just now
        await limiter.freeze(4, 30)                                       # a 429 froze chat 4
        taken = await slots.take([1, 2, 3, 4, 5])
        await client.set(keys.send_freeze_global, str(time.time() * 1000 + 60_000))
        frozen = await slots.take([6, 7])
        return taken, frozen
    (statuses, _), (none, wait) = run(redis_url, scenario)
    assert statuses == [1, -1, 0, 0, 1]
    assert none == [] and 50 <= wait <= 60                              # the bot-wide freeze waited out


TOKEN = "778:pacer-test"


def test_the_pacer_sends_each_call_once_in_order_through_the_limits(redis_url, emulator):
    """A page of 60 recipients at 40/s: every call sent once (a blocked chat not at all, a group through the
    limiter alone), the results in the calls' order, and the page takes about its time at the rate."""
    emu, control = emulator
    keys = Keys.for_token(TOKEN)
    users = list(range(500, 560))
    for user in users:
        control.inject_message(TOKEN, user, "hi")
    control.inject_message(TOKEN, 900, "hi", chat_id=-900, chat_type="group")

    async def scenario(client):
        sender = Sender(BotApiClient(emu.url, TOKEN), FloodLimiter(client, keys, Limits(global_rate=40)),
                        OutboxJournal(client, keys))
        await sender.open()
        try:
            await sender.limiter.mark_blocked(users[7])
            calls = [("sendMessage", {"chat_id": u, "text": f"page {u}", BULK_FLAG: True}) for u in users]
            calls.insert(30, ("sendMessage", {"chat_id": -900, "text": "page group", BULK_FLAG: True}))
            started = time.monotonic()
            results = await BroadcastPacer(sender).send(calls)
            return results, time.monotonic() - started
        finally:
            await sender.close()
    results, took = run(redis_url, scenario)
    assert len(results) == 61 and results[30][0] == "sent" and results[7] == ("blocked", None)
    assert all(outcome == "sent" for i, (outcome, _) in enumerate(results) if i not in (7, 30))
    for i, user in enumerate(users):
        texts = [e["text"] for e in control.sent(TOKEN, user) if e["method"] == "sendMessage"]
        assert texts == ([] if i == 7 else [f"page {user}"])
        if i != 7:
            assert results[i + (i >= 30)][1]["chat"]["id"] == user              # in the calls' order
    assert took >= 59 / 40 * 0.9                                         # paced: 60 slots at 40/s
