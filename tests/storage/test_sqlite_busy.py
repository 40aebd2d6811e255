"""A SQLite write that finds the write lock taken waits for it in short steps (storage.sqlite.connection
retry_busy), not in SQLite's busy handler's 1, 2, 5, 10 ... ms sleeps; it gives up with "database is
locked" after busy_timeout_ms, and nothing but SQLITE_BUSY is tried again."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from storage.sqlite import connection
from storage.sqlite.backend import SQLiteStore
from storage.sqlite.connection import BUSY_CAP_S, BUSY_FIRST_S, retry_busy


def busy() -> sqlite3.OperationalError:
    """An error shaped as sqlite3 raises it for a lock another connection holds (test_the_busy_check_is_sqlites_own_code
    checks the real one)."""
    exc = sqlite3.OperationalError("database is locked")
    exc.sqlite_errorcode = sqlite3.SQLITE_BUSY            # type: ignore[attr-defined]
    return exc


class Clock:
    """time.monotonic and time.sleep for retry_busy: the sleeps are recorded and advance the clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(connection.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(connection.time, "sleep", clock.sleep)
    return clock


def refused(times: int):
    """A step that SQLite refuses `times` times, then answers 'ok'."""
    calls = []

    def step():
        calls.append(1)
        if len(calls) <= times:
            raise busy()
        return "ok"
    return step, calls


def test_a_refused_step_is_tried_again_after_a_tenth_of_a_millisecond_doubling_to_two(clock):
    step, calls = refused(7)
    assert retry_busy(step, timeout_ms=15000) == "ok"
    assert len(calls) == 8
    assert clock.sleeps == pytest.approx([0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.002, 0.002])
    assert (BUSY_FIRST_S, BUSY_CAP_S) == (0.0001, 0.002)


def test_a_lock_held_past_the_timeout_raises_database_is_locked(clock):
    step, calls = refused(10**6)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        retry_busy(step, timeout_ms=50)
    assert 50 / 1000 <= sum(clock.sleeps) <= 50 / 1000 + BUSY_CAP_S      # it waited the timeout, no longer
    assert len(calls) == len(clock.sleeps) + 1


def test_other_errors_are_raised_at_once(clock):
    def broken():
        raise sqlite3.OperationalError("no such table: nope")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_busy(broken, timeout_ms=15000)
    assert clock.sleeps == []


def test_the_busy_check_is_sqlites_own_code(tmp_path):
    """The errors retry_busy takes for BUSY are what sqlite3 raises for a lock another connection holds."""
    path = str(tmp_path / "busy.sqlite3")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as refused_:
        other.execute("INSERT INTO t VALUES (1)")
    assert connection.is_busy(refused_.value)
    holder.execute("ROLLBACK")
    with pytest.raises(sqlite3.OperationalError) as other_error:
        other.execute("SELECT * FROM nope")
    assert not connection.is_busy(other_error.value)
    holder.close()
    other.close()


def test_a_write_waits_for_a_lock_another_process_holds_and_goes_through_once_it_is_released(tmp_path):
    """Another connection (as another worker process would) holds the write lock; the store's write
    waits, then lands; a transaction's BEGIN IMMEDIATE waits the same way."""
    path = str(tmp_path / "wait.sqlite3")
    store = SQLiteStore(path)
    store.init_schema()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    done: list[object] = []
    waiting = threading.Thread(target=lambda: done.append(store.users.register(7, "trinity")))

    def rename() -> None:
        with store.db.transaction() as tx:
            tx.execute("UPDATE users SET first_name = 'T' WHERE id = 7")
        done.append("renamed")
    in_tx = threading.Thread(target=rename)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive() and not done            # still waiting for the lock
    holder.execute("COMMIT")
    waiting.join(10)
    assert not waiting.is_alive() and done[0][1] is True
    holder.execute("BEGIN IMMEDIATE")
    in_tx.start()
    in_tx.join(0.3)
    assert in_tx.is_alive()
    holder.execute("ROLLBACK")
    in_tx.join(10)
    assert not in_tx.is_alive() and len(done) == 2
    holder.close()
    assert (store.users.get(7).username, store.users.get(7).first_name) == ("trinity", "T")
    store.close()


def test_a_write_gives_up_after_busy_timeout_ms(tmp_path):
    path = str(tmp_path / "give_up.sqlite3")
    SQLiteStore(path).init_schema()
    store = SQLiteStore(path)
    store.db.busy_timeout_ms = 200
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        store.users.register(8, "morpheus")
    holder.execute("ROLLBACK")
    holder.close()
    assert store.users.register(8, "morpheus")[1] is True
