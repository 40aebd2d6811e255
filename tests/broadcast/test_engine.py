"""The broadcast engine in process, on the real SQLite store and Redis, with a scripted sender at its seam
(the worker's ThreadSender): deferred 429 recipients, the pass limit, and the broadcast metrics."""
from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest
from prometheus_client import REGISTRY

from botrunner.sender.sender import MAX_429, RateLimited
from handlers import broadcast_engine
from handlers.broadcast_engine import MAX_PASSES, BroadcastEngine
from storage.broadcast_records import Message, Segment
from tests.handlers.conftest import make_bot  # noqa: F401  (the fixture)

LIMITED = RateLimited(f"still rate-limited after {MAX_429} tries", 0.0)


class ScriptedSender:
    """send_bulk as the ThreadSender answers it: one (outcome, detail) per call, from `script(chat, attempt)`."""

    def __init__(self, script) -> None:
        self.script = script
        self.attempts: dict[int, int] = {}

    def send_bulk(self, calls: list[tuple[str, dict[str, Any]]], paid: bool = False) -> Future:
        results = []
        for _, params in calls:
            chat = params["chat_id"]
            self.attempts[chat] = self.attempts.get(chat, 0) + 1
            results.append(self.script(chat, self.attempts[chat]))
        future: Future = Future()
        future.set_result(results)
        return future


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def outcomes() -> dict[str, float]:
    return {o: sample("botrunner_broadcast_recipients_total", outcome=o)
            for o in ("sent", "blocked", "failed", "skipped", "retried")}


@pytest.fixture
def rt(make_bot, monkeypatch):  # noqa: F811
    monkeypatch.setattr(broadcast_engine, "RETRY_MIN_S", 0.05)        # deferred recipients come back quickly
    bot = make_bot(BROADCAST_CHECK_S="2")
    for uid in range(1, 11):
        bot.rt.store.users.register(uid, f"u{uid}", language_code="en")
    return bot.rt


def running(rt) -> str:
    draft = rt.store.broadcasts.create(Message(text="hello"), Segment(ids=tuple(range(1, 11))), created_by=1)
    assert rt.store.broadcasts.set_status(draft.id, "running") is not None
    return draft.id


def test_outcomes_deferrals_and_metrics(rt):
    def script(chat: int, attempt: int) -> tuple[str, Any]:
        if chat == 3:
            return "blocked", None
        if chat == 5:
            return "failed", "Bad Request: message is too long"
        if chat == 7 and attempt == 1:
            return "failed", LIMITED                          # 429s refused it: nothing delivered
        return "sent", {"message_id": chat}
    sender = ScriptedSender(script)
    broadcast_id = running(rt)
    before = outcomes()
    assert BroadcastEngine(rt, lambda: sender).run_once() == 1
    b = rt.store.broadcasts.get(broadcast_id)
    assert (b.status, b.sent, b.blocked, b.failed, b.skipped, b.retrying) == ("done", 8, 1, 1, 0, 0)
    assert sender.attempts[7] == 2 and all(n == 1 for chat, n in sender.attempts.items() if chat != 7)
    row = rt.store.broadcasts.recipient(broadcast_id, 7)
    assert (row.status, row.tries) == ("sent", 1)
    assert rt.store.broadcasts.recipient(broadcast_id, 5).reason == "Bad Request: message is too long"
    after = outcomes()
    assert {o: after[o] - before[o] for o in after} == {"sent": 8, "blocked": 1, "failed": 1, "skipped": 0,
                                                         "retried": 1}
    assert sample("botrunner_broadcasts_running") == 0 and sample("botrunner_broadcast_recipients_per_second") == 0


def test_a_recipient_still_refused_after_max_passes_counts_failed(rt):
    sender = ScriptedSender(lambda chat, attempt: ("failed", LIMITED) if chat == 4 else ("sent", {}))
    broadcast_id = running(rt)
    engine = BroadcastEngine(rt, lambda: sender)
    retried = outcomes()["retried"]
    engine.run_once()
    b = rt.store.broadcasts.get(broadcast_id)
    assert (b.status, b.sent, b.failed, b.retrying) == ("done", 9, 1, 0)
    assert sender.attempts[4] == MAX_PASSES
    row = rt.store.broadcasts.recipient(broadcast_id, 4)
    assert (row.status, row.tries) == ("failed", MAX_PASSES - 1) and "rate-limited" in row.reason
    assert outcomes()["retried"] - retried == MAX_PASSES - 1


def test_a_far_retry_frees_the_worker_until_it_is_due(rt, monkeypatch):
    monkeypatch.setattr(broadcast_engine, "RETRY_MIN_S", 60.0)        # beyond the next check
    sender = ScriptedSender(lambda chat, attempt: ("failed", LIMITED) if chat == 2 and attempt == 1 else ("sent", {}))
    broadcast_id = running(rt)
    engine = BroadcastEngine(rt, lambda: sender)
    assert engine.run_once() == 1
    b = rt.store.broadcasts.get(broadcast_id)
    assert (b.status, b.sent, b.retrying) == ("running", 9, 1)          # not done: one recipient waits
    assert rt.redis.get(engine.lease_key(broadcast_id)) is None          # and the lease is free meanwhile
    assert rt.store.broadcasts.next_retry(broadcast_id) > b.updated_at + 59


def test_the_rate_meter_measures_the_last_pages(monkeypatch):
    clock = iter([100.0, 101.0, 102.0, 103.0, 120.0])
    monkeypatch.setattr(broadcast_engine.time, "monotonic", lambda: next(clock))
    meter = broadcast_engine.RateMeter()                               # starts at 100
    assert meter.add(50) == 50.0 and meter.add(50) == 50.0 and meter.add(200) == pytest.approx(100.0)
    assert meter.add(10) == pytest.approx(10 / 17)      # a slow page after a pause: the older pages drop out


def test_a_page_claimed_but_not_reported_is_never_sent_again(rt):
    """The owner dies between claiming a page (its rows pending) and learning what was sent: the next owner
    settles those rows as skipped (their sends are in doubt) and sends only the recipients nobody claimed."""
    class DiesMidPage(ScriptedSender):
        def send_bulk(self, calls, paid=False):
            super().send_bulk(calls, paid)          # handed to the sender: maybe delivered, never reported
            raise SystemExit("killed mid-page")
    dying = DiesMidPage(lambda chat, attempt: ("sent", {}))
    broadcast_id = running(rt)
    first = BroadcastEngine(rt, lambda: dying)
    first.page = 4
    with pytest.raises(SystemExit):
        first.run_once()
    claimed = set(dying.attempts)
    assert claimed == {1, 2, 3, 4}
    assert rt.redis.get(first.lease_key(broadcast_id)) is None          # released (an expired lease alike)
    survivor = ScriptedSender(lambda chat, attempt: ("sent", {}))
    skipped = outcomes()["skipped"]
    assert BroadcastEngine(rt, lambda: survivor).run_once() == 1
    b = rt.store.broadcasts.get(broadcast_id)
    assert (b.status, b.sent, b.skipped) == ("done", 6, 4)
    assert set(survivor.attempts) == set(range(5, 11))                  # nobody claimed twice
    assert all(rt.store.broadcasts.recipient(broadcast_id, u).status == "skipped" for u in claimed)
    assert outcomes()["skipped"] - skipped == 4
