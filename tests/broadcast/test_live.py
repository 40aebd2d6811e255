"""Broadcasts through real workers (`botrunner start` with handlers.app) against the local Bot API
server: exactly once per recipient across kill -9 of the owner, pause/resume, blocked users, 429s
from the server's flood limits, and replies to users that do not wait behind a broadcast."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from botrunner.config.settings import Settings
from botrunner.sender.sender import MAX_429
from handlers.broadcast_engine import PIPELINE, page_size
from storage.broadcast_records import Broadcast, Message, Segment
from storage.sqlite.backend import SQLiteStore
from tests.handlers.live import ADMIN, LiveBot, live_bot, text_of
from tests.runner.conftest import KEYS, TOKEN, wait_until

ENV = {"SEND_GLOBAL_RATE": "100", "BROADCAST_LEASE_TTL_MS": "3000",
       "BROADCAST_CHECK_S": "0.3", "CAPTCHA_ENABLED": "false"}


@pytest.fixture(scope="module")
def live(redis_server, tmp_path_factory) -> Iterator[LiveBot]:
    with live_bot(redis_server.url, tmp_path_factory.mktemp("broadcast"), **ENV) as bot:
        yield bot


@pytest.fixture
def leases(live) -> Iterator[redis.Redis]:
    """The bot's Redis database (REDIS_SESSION_DB), where the broadcast leases live."""
    client = redis.Redis.from_url(live.cluster.redis_url, db=Settings.__dataclass_fields__["redis_session_db"].default)
    yield client
    client.close()


def lease_owner(leases: redis.Redis, broadcast_id: str) -> int | None:
    """The pid of the worker holding the broadcast's lease (its value is "<pid>:<random>")."""
    raw = leases.get(f"{KEYS.prefix}bot:broadcast:{broadcast_id}:lease")
    return int(raw.decode().split(":")[0]) if raw else None


@pytest.fixture
def store(live) -> Iterator[SQLiteStore]:
    store = SQLiteStore(str(Path(live.cluster.tmp_path) / "state" / "botrunner.sqlite3"))
    yield store
    store.close()


def audience(live: LiveBot, store: SQLiteStore, first: int, count: int) -> list[int]:
    """`count` registered users from id `first`, each a private chat the server knows."""
    ids = list(range(first, first + count))
    for uid in ids:
        store.users.register(uid, f"u{uid}", language_code="en")
        live.control.set_chat(TOKEN, uid, type="private")
    return ids


def start(store: SQLiteStore, text: str, ids: list[int]) -> Broadcast:
    draft = store.broadcasts.create(Message(text=text), Segment(ids=tuple(ids)), created_by=ADMIN)
    running = store.broadcasts.set_status(draft.id, "running")
    assert running is not None and running.total == len(ids)
    return running


def received(live: LiveBot, ids: list[int], text: str) -> dict[int, int]:
    """How many copies of `text` the server delivered to each user."""
    return {uid: sum(text_of(e) == text for e in live.sent(uid)) for uid in ids}


def finished(store: SQLiteStore, broadcast_id: str, timeout: float = 120.0) -> Broadcast:
    return wait_until(lambda: (b := store.broadcasts.get(broadcast_id)) and b.status == "done" and b,
                      timeout, 0.2, what=f"broadcast {broadcast_id} done")


def test_exactly_once_across_kill_9_of_the_owner(live, store, leases):
    ids = audience(live, store, 100_000, 600)
    b = start(store, "kill test", ids)
    victim = wait_until(lambda: lease_owner(leases, b.id), 30, 0.05, what="a worker owning the broadcast")
    wait_until(lambda: store.broadcasts.get(b.id).sent >= 100, 60, 0.05, what="100 sent")
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: lease_owner(leases, b.id) not in (None, victim), 60, 0.05,
               what="another worker taking the broadcast over")
    done = finished(store, b.id)
    counts = received(live, ids, "kill test")
    assert max(counts.values()) == 1                                      # nobody got it twice
    assert done.sent + done.skipped == 600 and done.failed == done.blocked == 0
    sent = store.broadcasts.recipients(b.id, "sent", limit=1000)
    assert len(sent) == done.sent and all(counts[r.user_id] == 1 for r in sent)   # exactly once
    # the killed owner's in-flight page: claimed, maybe delivered, never sent again (at most once)
    in_doubt = store.broadcasts.recipients(b.id, "skipped", limit=1000)
    assert len(in_doubt) == done.skipped <= PIPELINE * page_size(100)   # the pages in flight, no more
    assert all(r.reason.startswith("in doubt") for r in in_doubt)
    assert sum(counts.values()) == done.sent + sum(counts[r.user_id] for r in in_doubt)


def test_pause_resume_and_blocked_users(live, store):
    ids = audience(live, store, 200_000, 800)
    blocked = ids[100:105]
    for uid in blocked:
        live.control.set_blocked(TOKEN, uid)
    b = start(store, "pause test", ids)
    wait_until(lambda: store.broadcasts.get(b.id).sent >= 50, 60, 0.05, what="50 sent")
    live.ask(ADMIN, "bpause", f"#{b.id}: paused", b.id)
    at_pause = store.broadcasts.get(b.id).processed
    time.sleep(2.0)                                  # a paused broadcast sends nothing more
    paused = store.broadcasts.get(b.id)
    assert paused.status == "paused" and paused.processed <= at_pause + PIPELINE * page_size(100)
    assert paused.processed < 800
    time.sleep(1.0)
    assert store.broadcasts.get(b.id).processed == paused.processed
    live.ask(ADMIN, "bresume", f"#{b.id}: running", b.id)
    done = finished(store, b.id)
    counts = received(live, ids, "pause test")
    assert all(counts[uid] == (0 if uid in blocked else 1) for uid in ids)
    assert (done.sent, done.blocked, done.failed, done.skipped) == (795, 5, 0, 0)
    assert all(store.users.get(uid).blocked_bot for uid in blocked)       # the 403 reached the users table
    assert store.broadcasts.count_segment(Segment(ids=tuple(ids))) == 795  # and the next broadcast skips them


def test_429s_from_the_server_are_waited_out(live, store):
    ids = audience(live, store, 300_000, 300)
    live.control.set_flood_limits(enabled=True, reply_window_s=0, global_rate=40, global_burst=10, chat_rate=100,
                                  chat_burst=100)
    try:
        b = start(store, "flood test", ids)
        done = finished(store, b.id)
    finally:
        live.control.set_flood_limits(enabled=False)
    counts = received(live, ids, "flood test")
    assert max(counts.values()) == 1                                   # nobody twice, through the 429s
    sent = store.broadcasts.recipients(b.id, "sent", limit=1000)
    assert len(sent) == done.sent and all(counts[r.user_id] == 1 for r in sent)
    # a recipient the sender gave up on after MAX_429 429s in a row waits for a later pass: nobody fails
    assert (done.sent, done.failed, done.skipped, done.retrying) == (300, 0, 0, 0)
    assert all(counts[uid] == 1 for uid in ids)
    assert "429 retry after" in "".join(Path(p.log_path).read_text(errors="replace") for p in live.cluster.processes)


def test_a_recipient_refused_max_429_times_is_sent_on_a_later_pass(live, store):
    """Before: counted failed ("still rate-limited after 10 tries") and never delivered."""
    ids = audience(live, store, 350_000, 20)
    stubborn = ids[7]
    live.control.add_fault("sendMessage", 429, retry_after=1, times=MAX_429 + 2, match={"chat_id": stubborn},
                           token=TOKEN)
    try:
        b = start(store, "stubborn test", ids)
        deferred = wait_until(lambda: (r := store.broadcasts.recipient(b.id, stubborn)) and r.tries >= 1 and r,
                              60, 0.1, what="the stubborn recipient deferred")
        assert deferred.reason.startswith("still rate-limited") and "pass 1 of" in deferred.reason
        done = finished(store, b.id)
    finally:
        live.control.clear_faults(TOKEN)
    counts = received(live, ids, "stubborn test")
    assert all(counts[uid] == 1 for uid in ids)                  # delivered once, on the second pass
    assert (done.sent, done.failed, done.skipped, done.retrying) == (20, 0, 0, 0)
    row = store.broadcasts.recipient(b.id, stubborn)
    assert (row.status, row.tries) == ("sent", 1)
    assert row.at >= deferred.at                                 # not sent again before its not-before time


def test_replies_do_not_wait_behind_a_broadcast(live, store):
    ids = audience(live, store, 400_000, 1500)           # 15 s of sends at 100/s
    b = start(store, "long one", ids)
    wait_until(lambda: store.broadcasts.get(b.id).sent >= 100, 60, 0.05, what="the broadcast under way")
    user = 450_001
    live.enter(user)                                     # /start answered ...
    during = store.broadcasts.get(b.id)
    assert during.status == "running" and during.processed < 1400   # ... long before the broadcast's end
    live.ask(ADMIN, "bcancel", f"#{b.id}: cancelled", b.id)
