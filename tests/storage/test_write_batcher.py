"""Batched writes: flushed by size, by interval, or explicitly; nothing lost; immediate when off."""
from __future__ import annotations

import pytest

from storage.sqlite.backend import SQLiteStore
from storage.write_batcher import WriteBatcher
from tests.threads import run_threads


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(str(tmp_path / "batch.sqlite3"))
    store.init_schema()
    for uid in range(1, 101):
        store.users.register(uid, at=1.0)
    yield store
    store.close()


def last_active(store, uid):
    return store.users.get(uid).last_active_at


def test_nothing_written_until_flush(store):
    batcher = WriteBatcher(store, enabled=True, size=1000)
    seq = batcher.touch(1, at=50.0)
    assert last_active(store, 1) == 1.0 and batcher.pending == 1
    assert batcher.flush() == 1
    assert last_active(store, 1) == 50.0 and batcher.wait(seq, timeout=0)


def test_touches_coalesce_and_size_triggers_flush(store):
    batcher = WriteBatcher(store, enabled=True, size=3)
    batcher.touch(1, at=10.0)
    batcher.touch(1, at=20.0)
    batcher.touch(2, at=30.0)
    assert batcher.pending == 2
    batcher.touch(3, at=40.0)                       # third distinct item: written at once
    assert batcher.pending == 0
    assert [last_active(store, u) for u in (1, 2, 3)] == [20.0, 30.0, 40.0]


def test_interval_flush_in_background(store):
    batcher = WriteBatcher(store, enabled=True, size=1000, interval_ms=10).start()
    try:
        seq = batcher.touch(4, at=99.0)
        assert batcher.wait(seq, timeout=10)
        assert last_active(store, 4) == 99.0
    finally:
        batcher.stop()


def test_referral_credits_batched_and_reported(store):
    store.referrals.record(1, 2)
    store.referrals.record(1, 3)
    paid = []
    batcher = WriteBatcher(store, enabled=True, size=1000)
    batcher.credit_referral(2, 15, 7, paid.append)
    batcher.credit_referral(3, 15, 7, paid.append)
    batcher.credit_referral(2, 15, 7, paid.append)   # the same referral again in the same batch
    assert store.points.balance(1) == 0
    batcher.flush()
    assert paid == [True, True, False]
    assert store.points.balance(1) == 30 and store.users.get(1).referral_count == 2


def test_batching_off_writes_immediately(store):
    store.referrals.record(1, 2)
    paid = []
    batcher = WriteBatcher(store, enabled=False)
    assert batcher.touch(5, at=77.0) == 0 and last_active(store, 5) == 77.0
    batcher.credit_referral(2, 10, 0, paid.append)
    assert paid == [True] and store.points.balance(1) == 10 and batcher.pending == 0


def test_failed_flush_keeps_the_writes(store):
    batcher = WriteBatcher(store, enabled=True, size=1000)
    batcher.touch(6, at=66.0)
    original, calls = store.users.touch_many, []

    def failing(values):
        calls.append(values)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        original(values)
    store.users.touch_many = failing
    with pytest.raises(RuntimeError):
        batcher.flush()                              # the worker does not acknowledge the update
    assert batcher.pending == 1
    batcher.flush()
    assert last_active(store, 6) == 66.0


def test_batching_saves_round_trips(store):
    def trips(enabled):
        batcher = WriteBatcher(store, enabled=enabled, size=1000)
        store.round_trips.take()
        for uid in range(1, 101):
            batcher.touch(uid)
        batcher.flush()
        return store.round_trips.take()
    assert trips(enabled=True) * 10 < trips(enabled=False)


def test_flush_per_update_is_a_group_commit(store):
    """What the worker does: every handler thread flushes before acking. When flush() returns, that
    thread's write is in the database even if another thread's flush carried it."""
    batcher = WriteBatcher(store, enabled=True, size=1000)
    failures = []

    def handler(uid):
        for n in range(20):
            at = 100.0 + n
            batcher.touch(uid, at=at)
            batcher.flush()
            if store.users.get(uid).last_active_at < at:
                failures.append((uid, n))
    run_threads((handler, (uid,)) for uid in range(1, 9))       # a thread's exception fails the test
    assert failures == []
    assert [last_active(store, uid) for uid in range(1, 9)] == [119.0] * 8
