"""Registering a user never holds SQLite's write lock while Python runs.

A statement that returns rows (INSERT ... RETURNING) keeps its autocommit transaction, and so the write
lock of the whole file, open until it has been stepped to its end: from its first step, which returns the
first row, Python runs (and first takes the GIL back, behind the process's other threads) while every
other writer of every worker waits. The probe runs exactly there: right after each statement's first
step returns to Python, it asks from another connection whether the write lock is free."""
from __future__ import annotations

import sqlite3
from typing import Any

from storage.sqlite.backend import SQLiteStore


class LockProbe:
    """This thread's connection as the store uses it, recording for every statement whether the write
    lock was still held when its first step returned to Python."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn = conn
        self.other = sqlite3.connect(path, timeout=0, isolation_level=None)
        self.held: list[str] = []           # the statements that returned to Python holding the lock
        self.statements = 0

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        cursor = self.conn.execute(sql, args)
        self.statements += 1
        try:
            self.other.execute("BEGIN IMMEDIATE")
            self.other.execute("ROLLBACK")
        except sqlite3.OperationalError:
            self.held.append(sql)
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def probed_store(tmp_path) -> tuple[SQLiteStore, LockProbe]:
    path = str(tmp_path / "lock.sqlite3")
    store = SQLiteStore(path)
    store.init_schema()
    probe = LockProbe(store.db.connection(), path)
    store.db._local.conn = probe             # what connection() hands this thread from now on
    return store, probe


def test_the_probe_sees_the_lock_a_returning_insert_holds(tmp_path):
    """The probe can fail: a row of INSERT ... RETURNING reaches Python with the write lock held."""
    store, probe = probed_store(tmp_path)
    store.db.query("INSERT INTO users (id, registered_at, last_active_at) VALUES (1, 0, 0) RETURNING id")
    assert probe.statements == 1 and len(probe.held) == 1
    store.close()


def test_registering_a_new_user_holds_no_write_lock_while_python_runs(tmp_path):
    store, probe = probed_store(tmp_path)
    user, created = store.users.register(42, "neo", "Thomas", "Anderson", "en", True)
    assert created and (user.id, user.username, user.first_name, user.is_premium) == (42, "neo", "Thomas", True)
    again, created_again = store.users.register(42, "neo")
    assert not created_again and again.first_name == "Thomas"
    assert probe.statements >= 3 and probe.held == []       # it wrote and read, never holding the lock
    store.close()

