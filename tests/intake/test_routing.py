"""Pure unit tests of intake: routing an update to a lane, preparing a batch, the long-poll timeout, backoff."""
from __future__ import annotations

import json

from botrunner.intake.poller import long_poll_timeout
from botrunner.intake.store import lane_for, prepare, routing_id
from tests.updates import callback, message

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


# --- poller pieces ---

def test_long_poll_timeout_stays_below_half_the_lease():
    assert long_poll_timeout(25, 10000) == 5
    assert long_poll_timeout(2, 10000) == 2
    assert long_poll_timeout(25, 1000) == 0
