"""SQLite registration as /start uses it: its statements, that each one commits, and the connection
settings every connection gets (WAL, synchronous=NORMAL; the busy wait is storage.sqlite.connection's,
tests/storage/test_sqlite_busy.py)."""
from __future__ import annotations

import sqlite3

import pytest

from storage.sqlite.backend import SQLiteStore


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(str(tmp_path / "register.sqlite3"))
    store.init_schema()
    yield store
    store.close()


def test_every_connection_is_wal_normal_sync_and_leaves_the_waiting_to_us(store):
    conn = store.db.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1          # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0         # SQLite's sleeps: see retry_busy


def test_a_new_user_costs_one_write_and_two_reads_and_is_committed_at_once(store, tmp_path):
    store.round_trips.take()
    user, created = store.users.register(5, "Neo", first_name="N", language_code="en")
    assert created and (user.id, user.username, user.first_name, user.captcha_passed) == (5, "Neo", "N", False)
    assert store.round_trips.take() == 3     # the INSERT, the read for a username holder, the row's read
    # (no INSERT ... RETURNING: tests/storage/test_sqlite_write_lock.py)
    assert not store.db.connection().in_transaction
    other = sqlite3.connect(str(tmp_path / "register.sqlite3"))   # another process's view: committed
    assert other.execute("SELECT username FROM users WHERE id = 5").fetchone() == ("Neo",)
    other.close()


def test_registering_again_returns_the_stored_row(store):
    store.users.register(5, "neo", first_name="First")
    store.users.set_captcha(5, True, "passed")
    store.round_trips.take()
    user, created = store.users.register(5, "neo", first_name="Second")
    assert not created and user.first_name == "First" and user.captcha_passed
    assert store.round_trips.take() == 2                       # the insert that did nothing, the read


def test_a_taken_username_moves_to_its_new_holder(store):
    store.users.register(1, "alice")
    changed: list[list[int]] = []
    store.on_users_changed(changed.append)
    store.users.register(2, "Alice")
    assert store.users.get(1).username == "" and store.users.get(2).username == "Alice"
    assert changed == [[1]]                                    # the stale holder; the new row is in no cache yet
    assert store.users.find_by_username("alice").id == 2
