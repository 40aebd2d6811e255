"""Pure unit tests of the runner's parts: no Redis, no network, no processes."""
from __future__ import annotations

import asyncio
import json
import os
import socket

import pytest

from botrunner.bot.context import Context, Services
from botrunner.bot.router import Router
from botrunner.intake.poller import Backoff, long_poll_timeout
from botrunner.intake.store import lane_for, prepare, routing_id
from botrunner.lanes.chat_order import ChatQueues, Job
from botrunner.lanes.leases import assign
from botrunner.memory import rss_mb
from botrunner.supervisor.sd_notify import SystemdNotifier
from botrunner.worker.heartbeat import HeartbeatFile


def message(update_id: int, chat_id: int, text: str, user_id: int | None = None) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": text, "chat": {"id": chat_id, "type": "private"},
        "from": {"id": user_id or chat_id, "is_bot": False, "first_name": "Ann"}}}


def callback(update_id: int, chat_id: int, data: str) -> dict:
    return {"update_id": update_id, "callback_query": {
        "id": "cb1", "data": data, "chat_instance": "x", "from": {"id": 7, "is_bot": False, "first_name": "A"},
        "message": {"message_id": 3, "date": 0, "chat": {"id": chat_id, "type": "private"}}}}


# --- routing an update to a lane ---

def test_routing_id_prefers_chat_then_user():
    assert routing_id(message(1, 42, "hi", user_id=7)) == 42
    assert routing_id(callback(1, 43, "x")) == 43
    assert routing_id({"update_id": 1, "inline_query": {"id": "q", "from": {"id": 9}, "query": ""}}) == 9
    assert routing_id({"update_id": 1, "poll": {"id": "p"}}) is None


def test_lane_is_stable_and_in_range():
    lanes = {lane_for(message(i, chat, "x"), 64) for i, chat in enumerate([-1001234567890, 5, 5, 99])}
    assert all(0 <= lane < 64 for lane in lanes)
    assert lane_for(message(1, 5, "a"), 64) == lane_for(message(2, 5, "b"), 64)
    assert lane_for({"update_id": 3, "poll": {}}, 64) == 0


def test_prepare_skips_malformed_items_and_follows_the_batch():
    batch = prepare([message(10, 1, "a"), {"no": "id"}, "junk", {"update_id": "11"}, message(12, 2, "b")], 8, 10)
    assert [e[0] for e in batch.entries] == [10, 12]
    assert batch.rejected == 3
    assert batch.next_offset == 13
    assert json.loads(batch.entries[0][2])["message"]["text"] == "a"


def test_prepare_accepts_an_update_id_jump_backwards():
    batch = prepare([message(5, 1, "after a week idle")], 8, offset=1_000_000)
    assert batch.next_offset == 6


def test_prepare_empty_batch_keeps_offset():
    assert prepare([], 8, 77).next_offset == 77


# --- lane assignment ---

def test_assign_is_fair_enough_and_stable():
    workers = [f"host:{pid}:ab" for pid in range(4)]
    owners = assign(64, workers)
    counts = [list(owners.values()).count(w) for w in workers]
    assert sum(counts) == 64 and min(counts) >= 8
    fewer = assign(64, workers[:3])
    moved = [lane for lane in range(64) if owners[lane] != fewer[lane]]
    assert all(owners[lane] == workers[3] for lane in moved)     # only the leaver's lanes move
    assert assign(8, []) == {}


# --- poller pieces ---

def test_long_poll_timeout_stays_below_half_the_lease():
    assert long_poll_timeout(25, 10000) == 5
    assert long_poll_timeout(2, 10000) == 2
    assert long_poll_timeout(25, 1000) == 0


def test_backoff_grows_capped_and_resets():
    backoff = Backoff(first=1, cap=4)
    delays = [backoff.next_delay() for _ in range(6)]
    assert all(0 < d <= 4 for d in delays) and delays[-1] >= 2
    backoff.reset()
    assert backoff.next_delay() <= 1


# --- router and context ---

def make_router(calls: list) -> Router:
    router = Router()
    router.command("start")(lambda ctx: calls.append(("start", ctx.args)) or ctx.reply("hello"))
    router.callback("claim:")(lambda ctx: calls.append(("claim", ctx.callback_data)) or ctx.answer("ok"))
    router.callback("claim:big:")(lambda ctx: calls.append(("big", ctx.callback_data)) or ctx.edit("done"))
    router.state("wallet")(lambda ctx: calls.append(("wallet", ctx.text)) or ctx.clear_state())
    router.text()(lambda ctx: calls.append(("text", ctx.text)) or ctx.set_state("wallet"))
    return router


def test_router_commands_callbacks_states_text():
    calls: list = []
    router = make_router(calls)
    ctx = Context(message(1, 5, "/start ref42"), bot_username="MyBot")
    assert router.handle(ctx)
    assert ctx.outbox == [("sendMessage", {"chat_id": 5, "text": "hello"})]
    states = ctx.states
    for update_id, text in ((2, "hi"), (3, "0xabc")):
        step = Context(message(update_id, 5, text), states=states)
        router.handle(step)
        step.commit_state()                 # what the worker does when the update completes
    router.handle(Context(message(4, 5, "/START@mybot"), states=states))
    assert not router.handle(Context(message(5, 5, "/start@otherbot"), states=states, bot_username="mybot"))
    big = Context(callback(6, 5, "claim:big:1"))
    router.handle(big)
    router.handle(Context(callback(7, 5, "claim:1")))
    assert calls == [("start", ["ref42"]), ("text", "hi"), ("wallet", "0xabc"), ("start", []),
                     ("big", "claim:big:1"), ("claim", "claim:1")]
    assert big.outbox == [("editMessageText", {"chat_id": 5, "message_id": 3, "text": "done"})]


def test_unmatched_update_goes_to_default_or_nowhere():
    router = Router()
    assert not router.handle(Context({"update_id": 1, "some_future_update": {"x": 1}}))
    seen = []
    router.default()(lambda ctx: seen.append(ctx.update_id))
    router.handle(Context(message(9, 1, "x")))
    assert seen == [9]


def test_services_provide_and_flush_hooks():
    flushed = []
    services = Services(users="repo")
    services.add_flush_hook(lambda: flushed.append(1))
    services.flush()
    assert services.users == "repo" and flushed == [1]
    with pytest.raises(AttributeError):
        _ = services.missing


# --- per-chat ordering ---

def test_chat_queues_keep_order_per_chat_and_run_chats_concurrently():
    async def scenario():
        log, running, peak = [], set(), [0]

        async def run(job: Job):
            running.add(job.chat)
            peak[0] = max(peak[0], len(running))
            await asyncio.sleep(0.01 if job.chat == "a" else 0.001)
            log.append((job.chat, job.entry_id))
            running.discard(job.chat)

        queues = ChatQueues(run, capacity=100)
        for i in range(5):
            queues.submit(Job(0, "a", f"a{i}", {}))
            queues.submit(Job(1, "b", f"b{i}", {}))
        await asyncio.wait_for(queues.wait_idle(), 5)
        return log, peak[0]

    log, peak = asyncio.run(scenario())
    assert [e for c, e in log if c == "a"] == [f"a{i}" for i in range(5)]
    assert [e for c, e in log if c == "b"] == [f"b{i}" for i in range(5)]
    assert peak == 2


def test_chat_queues_drop_lane_leaves_other_lanes():
    async def scenario():
        done = []

        async def run(job: Job):
            await asyncio.sleep(0.01)
            done.append(job.entry_id)

        queues = ChatQueues(run)
        for i in range(3):
            queues.submit(Job(0, "a", f"a{i}", {}))
            queues.submit(Job(1, "b", f"b{i}", {}))
        await asyncio.sleep(0)            # the first job of each chat has started
        dropped = queues.drop_lane(0)
        await asyncio.wait_for(queues.wait_idle(), 5)
        return dropped, done, queues.per_lane[0]

    dropped, done, left = asyncio.run(scenario())
    assert dropped == 2 and "a0" in done and "a1" not in done and left == 0
    assert [e for e in done if e.startswith("b")] == ["b0", "b1", "b2"]


# --- process plumbing ---

def test_sd_notify_sends_datagrams(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "20000000")
        notifier = SystemdNotifier()
        notifier.ready("2 workers")
        notifier.watchdog()
        assert server.recv(100) == b"READY=1\nSTATUS=2 workers"
        assert server.recv(100) == b"WATCHDOG=1"
        assert notifier.watchdog_s == 20.0


def test_sd_notify_is_silent_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not SystemdNotifier().notify("READY=1")


def test_heartbeat_file_changes_ctime():
    hb = HeartbeatFile()
    try:
        before = hb.last_update()
        os.utime  # noqa: B018 (the file is unlinked: only fchmod can touch it)
        import time
        time.sleep(0.02)
        hb.notify()
        assert hb.last_update() > before
    finally:
        hb.close()
    assert rss_mb(os.getpid()) > 1 and rss_mb(2 ** 22 + 12345) == 0.0
