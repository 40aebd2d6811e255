"""Money under concurrency: many threads and several processes transferring and withdrawing at once
never overdraw, and every user's ledger sums to its balance. SQLite always; a real MongoDB when
MONGODB_URL is set. mongomock (each single-document operation atomic, as on a server) runs the thread
tests too, with every call yielding first the way a call to a server does while it waits for its reply,
so threads interleave between calls: a debit that is a read followed by a write would overdraw there."""
from __future__ import annotations

import multiprocessing
import random
import threading

import pytest

from storage.sqlite.backend import SQLiteStore
from tests.storage.conftest import MONGODB_URL, make_store
from tests.storage.mongomock_compat import interleave_like_a_server
from tests.threads import run_threads

USERS = list(range(1, 9))
START = 100


@pytest.fixture(params=["sqlite", "mongomock", pytest.param("mongodb", marks=[
    pytest.mark.mongodb, pytest.mark.skipif(not MONGODB_URL, reason="MONGODB_URL is not set")])])
def money_store(request, tmp_path, monkeypatch):
    if request.param == "mongomock":
        interleave_like_a_server(monkeypatch)
    store = make_store(request.param, tmp_path)
    for uid in USERS:
        store.users.register(uid)
        store.points.credit(uid, START, "award")
    yield store
    if request.param == "mongodb":
        store.client.drop_database(store.db.name)
    store.close()


def churn(store, seed: int, operations: int) -> None:
    """Random transfers (with fees) and withdrawals, many of them larger than the sender can pay."""
    rng = random.Random(seed)
    for _ in range(operations):
        sender, receiver = rng.sample(USERS, 2)
        amount = rng.randint(1, 80)
        if rng.random() < 0.7:
            store.points.transfer(sender, receiver, amount, fee=amount // 10)
        else:
            store.points.create_withdrawal(sender, amount, f"0x{sender}")


def assert_books_balance(store) -> None:
    balances = {uid: store.points.balance(uid) for uid in USERS}
    assert all(b >= 0 for b in balances.values())
    for uid in USERS:
        assert sum(store.points.earned_by_kind(uid).values()) == balances[uid]
        assert store.points.history_count(uid) > 0
    # points are only ever burned (fees) or withdrawn, never created by concurrency
    withdrawn = sum(w.amount for uid in USERS for w in store.points.withdrawals_for(uid, limit=10_000))
    fees = sum(t.fee for uid in USERS for t in store.points.transfers_for(uid, limit=10_000) if t.sender_id == uid)
    assert sum(balances.values()) + withdrawn + fees == START * len(USERS)


def test_threads_never_overdraw(money_store):
    run_threads((churn, (money_store, seed, 60)) for seed in range(12))    # re-raises a thread's error
    assert_books_balance(money_store)


def test_concurrent_full_balance_withdrawals_one_wins(money_store):
    barrier = threading.Barrier(10)

    def withdraw_all():
        barrier.wait()
        return money_store.points.create_withdrawal(1, START, "0x1")
    results = run_threads((withdraw_all, ()) for _ in range(10))
    assert sum(r is not None for r in results) == 1
    assert money_store.points.balance(1) == 0


def _process_churn(path: str, seed: int) -> None:
    store = SQLiteStore(path)      # built in the child: connections are never inherited across fork
    churn(store, seed, 80)
    store.close()


def test_processes_never_overdraw(tmp_path):
    store = make_store("sqlite", tmp_path)
    for uid in USERS:
        store.users.register(uid)
        store.points.credit(uid, START, "award")
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_process_churn, args=(store.path, seed)) for seed in range(4)]
    for child in children:
        child.start()
    churn(store, 99, 80)           # the parent keeps writing through its own connection meanwhile
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert_books_balance(store)
    store.close()


def test_sqlite_is_wal_with_one_connection_per_thread(tmp_path):
    store = make_store("sqlite", tmp_path)
    conn = store.db.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other = []
    thread = threading.Thread(target=lambda: other.append(store.db.connection()))
    thread.start()
    thread.join()
    assert other[0] is not conn                 # one connection per thread
    store.close()
