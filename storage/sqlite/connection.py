"""SQLite connections: one per thread, opened lazily in the process that uses it (never across fork).

WAL lets readers run while one writer commits; busy_timeout makes a writer wait for the lock
instead of failing, which is what makes several worker processes on one host safe. Write
transactions start with BEGIN IMMEDIATE: taking the write lock up front avoids the deadlock SQLite
reports (without waiting) when two readers both try to upgrade to writers.

Two steps do not wait on busy_timeout: switching a fresh file to WAL (SQLite answers "database is
locked" at once when another process is switching it too) and a first schema check racing another
process's schema creation. Both run under `init_lock()`, an flock on a sidecar `<file>.lock`,
so workers booting together on a fresh file take turns instead of failing.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from storage.instrumentation import RoundTrips

if TYPE_CHECKING:
    from storage.base import PointsRepository

BUSY_TIMEOUT_MS = 15000


class SQLiteDatabase:
    """The SQLite file plus per-thread connections; every statement counts as one round trip."""

    def __init__(self, path: str, round_trips: RoundTrips, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self.round_trips = round_trips
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection; a fresh one after fork (a parent's connection must not be reused)."""
        if self._pid != os.getpid():
            # a forked child: forget the parent's connections (and a lock another thread may have held)
            self._local, self._all, self._lock, self._pid = threading.local(), [], threading.Lock(), os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread is kept (per thread)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        with self.init_lock():
            conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a power loss may lose the last commits but never corrupts the file
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def init_lock(self) -> Iterator[None]:
        """An exclusive lock between processes (flock on `<file>.lock`) for the journal-mode switch and
        schema creation; released by the kernel if the holder dies."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)          # closing the descriptor releases the lock

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.round_trips.add()
        return [dict(row) for row in self.connection().execute(sql, args).fetchall()]

    def query_one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        self.round_trips.add()
        row = self.connection().execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        row = self.query_one(sql, args)
        return next(iter(row.values())) if row else None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement in autocommit; returns the number of rows changed."""
        self.round_trips.add()
        return self.connection().execute(sql, args).rowcount

    @contextmanager
    def transaction(self) -> Iterator["Transaction"]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back if the block raises."""
        conn = self.connection()
        self.round_trips.add()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(conn, self.round_trips)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:   # also when COMMIT itself failed: never leave the connection mid-transaction
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass  # created in another thread that already exited; the GC closes it
            self._all = []
        self._local = threading.local()


class Transaction:
    """Statements inside one write transaction (see `SQLiteDatabase.transaction`)."""

    def __init__(self, conn: sqlite3.Connection, round_trips: RoundTrips) -> None:
        self.conn = conn
        self.round_trips = round_trips

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        self.round_trips.add()
        return self.conn.execute(sql, args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        self.round_trips.add()
        return self.conn.executemany(sql, rows).rowcount

    def one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self.execute(sql, args).fetchone()
        return dict(row) if row is not None else None


class SQLiteStoreView(Protocol):
    """What a SQLite repository needs of its store (SQLiteStore is one), so repositories never import it."""

    @property
    def db(self) -> SQLiteDatabase: ...
    @property
    def points(self) -> PointsRepository: ...
    def users_changed(self, user_ids: Iterable[int]) -> None: ...
