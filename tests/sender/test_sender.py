"""The sender against the local Bot API server (in-thread) and the real Redis: 429 freezes across two
workers' senders, 5xx retries, blocked users, the outbox journal, uploads, getMe."""
from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from botrunner.redis_keys import Keys
from botrunner.sender import sender as sender_module
from botrunner.sender.client import BotApiClient
from botrunner.sender.flood_limiter import FloodLimiter, Limits
from botrunner.sender.journal import OutboxJournal
from botrunner.sender.sender import Sender

TOKEN = "777:sender-test"
KEYS = Keys.for_token(TOKEN)


def message_from(user: int, update_id: int = 1) -> dict:
    return {"update_id": update_id, "message": {"message_id": 1, "date": 0, "text": "hi",
                                               "from": {"id": user, "is_bot": False, "first_name": "u"},
                                               "chat": {"id": user, "type": "private"}}}


def flagged_in_redis(client, chat_id) -> bool:
    """The limiter's shared "cannot be reached" flag, as every worker (and `botrunner status`) reads it."""
    return bool(client.sismember(KEYS.send_blocked, str(chat_id)))


def with_senders(redis_url, emu_url, scenario, count=1, limits=Limits(), **kwargs):
    """Run `scenario(*senders)`: `count` senders as separate workers would have them (own clients)."""
    async def main():
        clients = [aioredis.from_url(redis_url) for _ in range(count)]
        senders = [Sender(BotApiClient(emu_url, TOKEN), FloodLimiter(c, KEYS, limits), OutboxJournal(c, KEYS),
                          **kwargs) for c in clients]
        for sender in senders:
            await sender.open()
        try:
            return await scenario(*senders)
        finally:
            for sender, client in zip(senders, clients):
                await sender.close()
                await client.aclose()
    return asyncio.run(main())


def texts(control, chat):
    return [e["text"] for e in control.sent(TOKEN, chat) if e["method"] == "sendMessage"]


def test_429_freezes_the_chat_for_every_worker_and_the_call_is_retried(redis_url, emulator):
    emu, control = emulator
    for user in (42, 43):
        control.inject_message(TOKEN, user, "hi")
    control.add_fault("sendMessage", 429, retry_after=4, times=1, match={"chat_id": 42}, token=TOKEN)

    async def scenario(a, b):
        started = time.monotonic()
        first = asyncio.create_task(a.send_call("sendMessage", {"chat_id": 42, "text": "from a"}))
        await asyncio.sleep(0.3)                   # a's 429 is in: b, another worker, must wait too
        other = await b.send_call("sendMessage", {"chat_id": 43, "text": "other chat"})
        other_at = time.monotonic() - started
        second = await b.send_call("sendMessage", {"chat_id": 42, "text": "from b"})
        return await first, other, other_at, second, time.monotonic() - started, a.metrics, b.metrics
    first, other, other_at, second, elapsed, ma, mb = with_senders(redis_url, emu.url, scenario, count=2)
    assert first[0] == other[0] == second[0] == "sent"
    # only chat 42 was frozen: the other chat's message went out before the frozen chat's retry
    at = {e["text"]: e["monotonic"] for chat in (42, 43) for e in control.sent(TOKEN, chat)}
    assert at["other chat"] < at["from a"] and other_at < elapsed
    assert elapsed >= 3.8                          # b waited out a's freeze of chat 42 (retry_after 4 s)
    # two workers sending into one chat have no order between them (one chat's own replies come from
    # its lane's owner, one after another)
    assert sorted(texts(control, 42)) == ["from a", "from b"] and texts(control, 43) == ["other chat"]
    assert ma.rate_limited_chat == 1 and mb.rate_limited_chat == 0


def test_5xx_is_retried_a_bounded_number_of_times(redis_url, emulator):
    emu, control = emulator
    control.inject_message(TOKEN, 42, "hi")
    control.add_fault("sendMessage", 502, times=2, token=TOKEN)

    async def scenario(sender):
        ok = await sender.send_call("sendMessage", {"chat_id": 42, "text": "after two 502s"})
        control.add_fault("sendMessage", 500, times=None, token=TOKEN)
        bad = await sender.send_call("sendMessage", {"chat_id": 42, "text": "never"})
        return ok, bad, sender.metrics
    ok, bad, metrics = with_senders(redis_url, emu.url, scenario, attempts=3)
    assert ok[0] == "sent" and bad[0] == "failed"
    assert metrics.retries == 2 + 2 and metrics.failed == 1
    assert [f["hits"] for f in control.faults() if f.get("error_code") == 500] == [3]


def test_blocked_user_is_flagged_once_skipped_and_cleared_when_they_write(redis_url, emulator, redis_client):
    emu, control = emulator
    control.inject_message(TOKEN, 42, "hi")
    control.set_blocked(TOKEN, 42)
    events = []

    async def scenario(sender):
        outcomes = [(await sender.send_call("sendMessage", {"chat_id": 42, "text": f"try {n}"}))[0]
                    for n in range(5)]
        flagged = flagged_in_redis(redis_client, 42)
        control.set_blocked(TOKEN, 42, False)
        await sender.deliver(2, message_from(42, 2), [("sendMessage", {"chat_id": 42, "text": "welcome back"})])
        return outcomes, flagged, flagged_in_redis(redis_client, 42), sender.metrics
    outcomes, flagged, still, metrics = with_senders(
        redis_url, emu.url, scenario, on_blocked=lambda user, blocked: events.append((user, blocked)))
    assert outcomes == ["blocked"] * 5 and flagged and not still
    assert metrics.blocked == 1 and metrics.skipped_blocked == 4      # one 403, no retry storm
    assert events == [(42, True), (42, False)]
    assert texts(control, 42) == ["welcome back"]


def test_chat_not_found_flags_the_chat_and_a_bad_request_is_final(redis_url, emulator, redis_client):
    emu, control = emulator
    control.inject_message(TOKEN, 42, "hi")

    async def scenario(sender):
        gone = await sender.send_call("sendMessage", {"chat_id": 999001, "text": "x"})
        bad = await sender.send_call("sendMessage", {"chat_id": 42, "text": ""})
        return gone, bad, flagged_in_redis(redis_client, 999001), flagged_in_redis(redis_client, 42)
    gone, bad, gone_flagged, flagged = with_senders(redis_url, emu.url, scenario)
    assert gone[0] == "blocked" and gone_flagged
    assert bad[0] == "failed" and not flagged


class Crash(Exception):
    """Stands in for the worker being killed in the middle of an outbox."""


def test_redelivered_update_skips_calls_the_journal_confirmed(redis_url, emulator):
    emu, control = emulator
    control.inject_message(TOKEN, 42, "hi")
    outbox = [("sendMessage", {"chat_id": 42, "text": f"part {n}"}) for n in (1, 2, 3)]

    async def scenario(sender):
        real_call = sender.client.call

        async def dying_call(method, params, timeout_s=None):
            if params["text"] == "part 3":
                raise Crash()
            return await real_call(method, params, timeout_s)
        sender.client.call = dying_call
        try:
            await sender.deliver(50, message_from(42, 50), outbox)
        except Crash:
            pass
        sender.client.call = real_call
        await sender.deliver(50, message_from(42, 50), outbox)            # the redelivery
        return sender.metrics
    metrics = with_senders(redis_url, emu.url, scenario)
    assert texts(control, 42) == ["part 1", "part 2", "part 3"]
    assert metrics.skipped_journal == 2


def test_uploads_go_as_multipart_and_getme_gives_the_username(redis_url, emulator):
    emu, control = emulator
    control.inject_message(TOKEN, 42, "hi")
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
                        "9c6360000002000154a24f5d0000000049454e44ae426082")

    async def scenario(sender):
        photo = await sender.send("sendPhoto", {"chat_id": 42, "photo": ("captcha.png", png), "caption": "solve"})
        doc = await sender.send("sendDocument", {"chat_id": 42, "document": ("users.csv", b"id\n1\n")})
        return photo, doc, (await sender.client.get_me()).username
    photo, doc, username = with_senders(redis_url, emu.url, scenario)
    assert photo["photo"] and photo["caption"] == "solve"
    assert doc["document"]["file_name"] == "users.csv"
    assert control.file(TOKEN, doc["document"]["file_id"]) == b"id\n1\n"
    assert username == "emulated_777_bot"


def test_bulk_sends_leave_room_for_replies(redis_url, emulator):
    emu, control = emulator
    for user in range(300, 340):
        control.inject_message(TOKEN, user, "hi")
    control.inject_message(TOKEN, 42, "hi")
    limits = Limits(global_rate=10, global_burst=5, bulk_reserve=3)

    async def scenario(sender):
        broadcast = asyncio.gather(*(sender.send_call("sendMessage", {"chat_id": u, "text": "news", "_bulk": True})
                                     for u in range(300, 340)))
        task = asyncio.ensure_future(broadcast)
        await asyncio.sleep(0.5)
        started = time.monotonic()
        reply = await sender.send_call("sendMessage", {"chat_id": 42, "text": "reply"})
        reply_took = time.monotonic() - started
        return await task, reply, reply_took
    bulk, reply, reply_took = with_senders(redis_url, emu.url, scenario, limits=limits)
    assert all(outcome == "sent" for outcome, _ in bulk) and reply[0] == "sent"
    # 40 broadcasts at 10/s were queued ahead of the reply; it did not wait behind them: most of them
    # went out after it (had it queued behind them, none would)
    reply_at = control.sent(TOKEN, 42)[-1]["monotonic"]
    news_at = [e["monotonic"] for u in range(300, 340) for e in control.sent(TOKEN, u) if e["method"] == "sendMessage"]
    assert sum(at > reply_at for at in news_at) >= 20, f"the reply took {reply_took:.1f}s"
    assert all(e["text"] == "news" for u in range(300, 340) for e in control.sent(TOKEN, u)
               if e["method"] == "sendMessage")


def test_a_rerun_whose_calls_differ_sends_the_new_call_and_not_the_confirmed_one(redis_url, emulator):
    """The journal keys a call by position plus a digest: a re-run that queues other calls (the handler read
    state it had changed itself) gets its new call out and still skips what was confirmed."""
    emu, control = emulator
    control.inject_message(TOKEN, 42, "hi")

    async def scenario(sender):
        await sender.deliver(60, message_from(42, 60), [("sendMessage", {"chat_id": 42, "text": "question 1"})])
        await sender.deliver(60, message_from(42, 60), [("sendMessage", {"chat_id": 42, "text": "saved"}),
                                                         ("sendMessage", {"chat_id": 42, "text": "question 1"})])
        await sender.deliver(60, message_from(42, 60), [("sendMessage", {"chat_id": 42, "text": "saved"})])
        return sender.metrics
    metrics = with_senders(redis_url, emu.url, scenario)
    assert texts(control, 42) == ["question 1", "saved", "question 1"]
    assert metrics.skipped_journal == 1
def test_a_call_refused_max_429_times_in_a_row_is_given_up(redis_url, emulator, monkeypatch):
    emu, control = emulator
    control.inject_message(TOKEN, 42, "hi")
    control.add_fault("sendMessage", 429, retry_after=1, times=None, match={"chat_id": 42}, token=TOKEN)
    monkeypatch.setattr(sender_module, "seconds", lambda exc: 0.05)     # 50 ms freezes keep the test short

    async def scenario(sender):
        outcome = await asyncio.wait_for(sender.send_call("sendMessage", {"chat_id": 42, "text": "never"}), 30)
        return outcome, sender.metrics
    # buckets lifted (freezes still apply): the chat's 1/s bucket would stretch ten tries over seconds
    (outcome, why), metrics = with_senders(redis_url, emu.url, scenario, limits=Limits(enabled=False))
    assert outcome == "failed" and metrics.failed == 1
    assert isinstance(why, sender_module.RateLimited) and why.retry_after == 0.05   # not delivered: may go later
    assert [f["hits"] for f in control.faults()] == [sender_module.MAX_429]   # exactly that many tries
    assert texts(control, 42) == []


def test_deliver_sends_replies_outside_the_global_budget_and_notifications_inside_it(redis_url, emulator,
                                                                                     redis_client):
    emu, control = emulator
    for user in range(500, 520):
        control.inject_message(TOKEN, user, "hi")
    limits = Limits(global_rate=1, global_burst=1)

    async def scenario(sender):
        await asyncio.gather(*(sender.deliver(n, message_from(user, n), [("sendMessage", {"chat_id": user, "text": "r"})])
                               for n, user in enumerate(range(500, 520), start=9000)))
        after_replies = redis_client.get(KEYS.send_tat("global", ""))
        await sender.deliver(9100, message_from(500, 9100), [("sendMessage", {"chat_id": 519, "text": "referral!"})])
        return after_replies, redis_client.get(KEYS.send_tat("global", ""))
    after_replies, after_notify = with_senders(redis_url, emu.url, scenario, limits=limits)
    assert after_replies is None                # 20 replies at a global 1/s: none took a global slot
    assert after_notify is not None             # a message to another chat did
    assert all(texts(control, user)[-1:] == ["r"] for user in range(500, 519)) and texts(control, 519) == ["r", "referral!"]


def test_a_call_that_cannot_be_built_fails_and_the_rest_of_the_outbox_goes(redis_url, emulator):
    """A file name UTF-8 cannot carry (a lone surrogate from hostile text) made the request building raise:
    out of deliver, and the chat's runner retried the entry forever. Now it is a failed call, like a 400."""
    emu, control = emulator
    control.inject_message(TOKEN, 43, "hi")
    outbox = [("sendDocument", {"chat_id": 43, "document": ("report\ud800.txt", b"a")}),
              ("sendMessage", {"chat_id": 43, "text": "after"})]

    async def scenario(sender):
        await sender.deliver(7, message_from(43, 7), outbox)
        return sender.metrics.failed, sender.metrics.retries
    assert with_senders(redis_url, emu.url, scenario) == (1, 0)
    assert texts(control, 43) == ["after"]
