"""The broadcast part of the storage contract, on every backend (the `store` fixture)."""
from __future__ import annotations

import time

import pytest

from storage.broadcast_records import Message, Segment

NOW = 1_000_000.0
DAY = 86400


def populate(store):
    """Ten users with varied attributes; 9 blocked the bot, 10 is banned."""
    for uid in range(1, 11):
        store.users.register(uid, f"u{uid}", language_code="de" if uid % 2 else "en", is_premium=uid <= 3, at=NOW)
    store.users.set_captcha(2, True)
    store.users.set_captcha(4, True)
    store.users.set_wallet(4, "EQwallet4")
    store.points.credit(5, 50, "award")
    store.points.credit(6, 200, "award")
    store.referrals.record(1, 7)
    store.referrals.credit_bonus(7, 10, 0)
    store.users.set_blocked_bot(9, True)
    store.users.ban(10, "spam")
    store.users.touch_many({1: NOW + 5 * DAY, 2: NOW + 5 * DAY})


def walk(store, broadcast_id, page=3):
    """Every id claim_page hands out, page by page, marking each sent."""
    seen = []
    while True:
        ids = store.broadcasts.claim_page(broadcast_id, page)
        if ids is None:
            return seen
        seen += ids
        store.broadcasts.finish(broadcast_id, [(i, "sent", "") for i in ids])


class TestBroadcastContract:
    @pytest.mark.parametrize(("segment", "expected"), [
        (Segment(), [1, 2, 3, 4, 5, 6, 7, 8]),
        (Segment(verified=True), [2, 4]),
        (Segment(premium=True), [1, 2, 3]),
        (Segment(with_wallet=True), [4]),
        (Segment(with_referrals=True), [1]),
        (Segment(points_min=40, points_max=100), [5]),
        (Segment(points_min=100), [6]),
        (Segment(language="de"), [1, 3, 5, 7]),
        (Segment(ids=(8, 9, 10, 3, 99)), [3, 8]),
        (Segment(premium=True, language="de"), [1, 3]),
    ])
    def test_segments_preview_and_walk(self, store, segment, expected):
        populate(store)
        b = store.broadcasts.create(Message(text="hi"), segment, created_by=42)
        assert b.status == "draft" and b.total == len(expected) == store.broadcasts.count_segment(segment)
        store.broadcasts.set_status(b.id, "running")
        assert walk(store, b.id) == expected

    def test_active_within_days(self, store):
        populate(store)
        segment = Segment(active_days=2)
        # "active within 2 days" of the real clock: only users touched recently
        store.users.touch_many({3: time.time()})
        assert store.broadcasts.count_segment(segment) == 1

    def test_round_trip_message_and_history(self, store):
        message = Message(photo="AgACphoto", text="<b>caption</b>", parse_mode="HTML",
                          buttons=[[{"text": "Open", "url": "https://example.org"}]])
        first = store.broadcasts.create(message, Segment(language="en"), created_by=7, at=100.0)
        second = store.broadcasts.create(Message(text="two"), Segment(), created_by=7, at=200.0)
        got = store.broadcasts.get(first.id)
        assert got.message == message and got.segment == Segment(language="en") and got.created_by == 7
        assert [b.id for b in store.broadcasts.history()] == [second.id, first.id]
        assert store.broadcasts.history(status="running") == []
        method, params = got.message.call(5)
        assert method == "sendPhoto" and params["caption"] == "<b>caption</b>"
        assert params["reply_markup"] == {"inline_keyboard": [[{"text": "Open", "url": "https://example.org"}]]}

    def test_history_pages_newest_first(self, store):
        made = [store.broadcasts.create(Message(text=str(n)), Segment(), created_by=1, at=100.0 + n // 2)
                for n in range(5)]                              # two share each created_at: ties by id
        expected = sorted(made, key=lambda b: (b.created_at, b.id), reverse=True)
        first = store.broadcasts.history_page(None, 2)
        second = store.broadcasts.history_page((first[-1].created_at, first[-1].id), 2)
        third = store.broadcasts.history_page((second[-1].created_at, second[-1].id), 2)
        assert [b.id for b in first + second + third] == [b.id for b in expected]
        assert store.broadcasts.history_page((third[-1].created_at, third[-1].id), 2) == []

    def test_status_transitions(self, store):
        b = store.broadcasts.create(Message(text="x"), Segment(), created_by=1)
        assert store.broadcasts.set_status(b.id, "paused") is None        # a draft cannot pause
        running = store.broadcasts.set_status(b.id, "running", at=50.0)
        assert running.status == "running" and running.started_at == 50.0
        assert store.broadcasts.set_status(b.id, "paused").status == "paused"
        assert store.broadcasts.set_status(b.id, "running").started_at == 50.0
        assert store.broadcasts.set_status(b.id, "done", at=60.0).finished_at == 60.0
        assert store.broadcasts.set_status(b.id, "cancelled") is None     # done is final
        assert store.broadcasts.set_status("nope", "running") is None

    def test_each_recipient_claimed_once_and_counters(self, store):
        populate(store)
        b = store.broadcasts.create(Message(text="x"), Segment(), created_by=1)
        store.broadcasts.set_status(b.id, "running")
        first = store.broadcasts.claim_page(b.id, 4)
        assert first == [1, 2, 3, 4]
        assert store.broadcasts.recipient(b.id, 2).status == "pending"
        store.broadcasts.finish(b.id, [(1, "sent", ""), (2, "blocked", ""), (3, "failed", "Bad Request: x")])
        # user 4 is still pending: its owner "died"; the next owner settles it without sending
        assert store.broadcasts.settle_in_doubt(b.id) == 1
        assert store.broadcasts.recipient(b.id, 4).status == "skipped"
        rest = store.broadcasts.claim_page(b.id, 100)
        assert rest == [5, 6, 7, 8]
        store.broadcasts.finish(b.id, [(i, "sent", "") for i in rest])
        store.broadcasts.finish(b.id, [(1, "sent", "")])                  # not pending any more: no change
        assert store.broadcasts.claim_page(b.id, 100) is None
        got = store.broadcasts.get(b.id)
        assert (got.sent, got.blocked, got.failed, got.skipped) == (5, 1, 1, 1) and got.processed == 8
        assert [r.reason for r in store.broadcasts.recipients(b.id, "failed")] == ["Bad Request: x"]
        assert store.broadcasts.settle_in_doubt(b.id) == 0
        assert store.broadcasts.get(b.id).sent == 5                      # recomputed, unchanged

    def test_rows_refused_by_429s_wait_for_a_later_pass(self, store):
        populate(store)
        b = store.broadcasts.create(Message(text="x"), Segment(), created_by=1)
        store.broadcasts.set_status(b.id, "running")
        assert store.broadcasts.claim_page(b.id, 3) == [1, 2, 3]
        assert store.broadcasts.next_retry(b.id) is None
        assert store.broadcasts.defer(b.id, [(1, NOW + 30, "429 x10"), (2, NOW + 10, "429 x10")], at=NOW) == 2
        assert store.broadcasts.defer(b.id, [(1, NOW + 30, "again")], at=NOW) == 0      # not pending any more
        store.broadcasts.finish(b.id, [(3, "sent", "")])
        got = store.broadcasts.get(b.id)
        assert (got.retrying, got.sent, got.processed) == (2, 1, 1)
        row = store.broadcasts.recipient(b.id, 1)
        assert (row.status, row.at, row.tries, row.reason) == ("retry", NOW + 30, 1, "429 x10")
        assert store.broadcasts.next_retry(b.id) == NOW + 10
        assert store.broadcasts.claim_retries(b.id, 10, at=NOW + 5) == []              # not due yet
        assert store.broadcasts.claim_retries(b.id, 10, at=NOW + 20) == [(2, 1)]
        assert store.broadcasts.claim_retries(b.id, 10, at=NOW + 20) == []             # handed out once
        assert store.broadcasts.recipient(b.id, 2).status == "pending"
        assert store.broadcasts.get(b.id).retrying == 1
        store.broadcasts.defer(b.id, [(2, NOW + 40, "429 again")], at=NOW + 20)
        assert store.broadcasts.recipient(b.id, 2).tries == 2
        assert store.broadcasts.claim_retries(b.id, 1, at=NOW + 100) == [(1, 1)]       # limit, user id order
        # the owner dies with user 1 pending: in doubt like any claimed row; user 2 keeps waiting
        assert store.broadcasts.settle_in_doubt(b.id) == 1
        got = store.broadcasts.get(b.id)
        assert (got.retrying, got.sent, got.skipped) == (1, 1, 1)
        assert store.broadcasts.claim_retries(b.id, 10, at=NOW + 100) == [(2, 2)]
        store.broadcasts.finish(b.id, [(2, "sent", "")])
        got = store.broadcasts.get(b.id)
        assert (got.retrying, got.sent, store.broadcasts.next_retry(b.id)) == (0, 2, None)

    def test_a_row_left_by_a_crash_is_never_handed_out_again(self, store):
        populate(store)
        b = store.broadcasts.create(Message(text="x"), Segment(), created_by=1)
        assert store.broadcasts.claim_page(b.id, 2) == [1, 2]
        rewind_cursor(store, b.id)             # as if the cursor write was lost after the rows were written
        assert store.broadcasts.claim_page(b.id, 2) == []          # both rows exist: nothing new
        assert store.broadcasts.claim_page(b.id, 3) == [3, 4, 5]
        assert store.broadcasts.claim_page("unknown", 3) is None

    def test_bad_input(self, store):
        with pytest.raises(ValueError):
            Message()
        with pytest.raises(ValueError):
            Message(text="x", parse_mode="bogus")
        with pytest.raises(ValueError):
            Segment(points_min=5, points_max=1)
        with pytest.raises(ValueError):
            Segment.from_json('{"colour": "red"}')
        b = store.broadcasts.create(Message(text="x"), Segment(), created_by=1)
        with pytest.raises(ValueError):
            store.broadcasts.finish(b.id, [(1, "pending", "")])


def rewind_cursor(store, broadcast_id):
    if store.backend == "sqlite":
        store.db.execute("UPDATE broadcasts SET cursor = 0 WHERE id = ?", (broadcast_id,))
    else:
        store.broadcasts.broadcasts.update_one({"_id": broadcast_id}, {"$set": {"cursor": 0}})
