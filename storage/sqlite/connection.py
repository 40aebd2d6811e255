"""SQLite connections: one per thread, opened lazily in the process that uses it (never across fork).

WAL lets readers run while one writer commits. A writer that finds the write lock taken (by another
thread's connection or another worker process) waits for it, up to `busy_timeout_ms`, which is what
makes several handler threads and worker processes on one file safe. The waiting is done here, not by
SQLite's busy handler: that one sleeps 1, 2, 5, 10, 15, 20 ... ms between tries, while a one-row write
holds the lock for well under a millisecond, so under a burst of registrations the handler threads
slept most of the time with the lock free (2.6 such sleeps of 3.7 ms each per /start, seen with
`strace -c -e clock_nanosleep` on a worker). Here a refused statement is tried again after 0.1 ms,
doubling to at most 2 ms (`retry_busy`). Write transactions start with BEGIN IMMEDIATE: taking the
write lock up front avoids the deadlock SQLite reports (without waiting) when two readers both try
to upgrade to writers, and makes BEGIN the only statement of a transaction that can be refused.

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
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from storage.instrumentation import RoundTrips

if TYPE_CHECKING:
    from storage.base import PointsRepository

BUSY_TIMEOUT_MS = 15000
BUSY_FIRST_S = 0.0001        # the first wait for a write lock another connection holds; doubles each try
BUSY_CAP_S = 0.002           # ... up to this
SQLITE_BUSY = 5               # the primary result code (sqlite3.SQLITE_BUSY; its extended codes add high bits)
T = TypeVar("T")


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY (any of its extended codes): the lock is held by another connection, try again."""
    return isinstance(exc, sqlite3.OperationalError) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == SQLITE_BUSY


def retry_busy(step: Callable[[], T], timeout_ms: int) -> T:
    """step() until SQLite stops answering SQLITE_BUSY, waiting 0.1 ms, 0.2 ms ... 2 ms between tries;
    the last BUSY error when `timeout_ms` has passed. Only for steps that did nothing when refused: a
    statement in autocommit, BEGIN IMMEDIATE, COMMIT (the transaction stays open when it is refused)."""
    delay, deadline = BUSY_FIRST_S, 0.0
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            now = time.monotonic()
            if not deadline:
                deadline = now + timeout_ms / 1000
            elif now >= deadline:
                raise
            time.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 2, BUSY_CAP_S)


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
        # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread is kept (per thread);
        # timeout 0: SQLite answers SQLITE_BUSY at once and retry_busy waits (see the module's docstring)
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        with self.init_lock():
            self._patient(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        # NORMAL in WAL mode: a power loss may lose the last commits but never corrupts the file
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _patient(self, step: Callable[[], T]) -> T:
        return retry_busy(step, self.busy_timeout_ms)

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
        conn = self.connection()
        with self.round_trips.timed("query"):
            return [dict(row) for row in self._patient(lambda: conn.execute(sql, args).fetchall())]

    def query_one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        conn = self.connection()
        with self.round_trips.timed("query"):
            row = self._patient(lambda: conn.execute(sql, args).fetchone())
        return dict(row) if row is not None else None

    def scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        row = self.query_one(sql, args)
        return next(iter(row.values())) if row else None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement in autocommit; returns the number of rows changed."""
        conn = self.connection()
        with self.round_trips.timed("execute"):
            return self._patient(lambda: conn.execute(sql, args).rowcount)

    @contextmanager
    def transaction(self) -> Iterator["Transaction"]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back if the block raises."""
        conn = self.connection()
        with self.round_trips.timed("begin"):       # waits here for the write lock
            self._patient(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield Transaction(conn, self.round_trips)
            self._patient(lambda: conn.execute("COMMIT"))
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
        with self.round_trips.timed("execute"):
            return self.conn.execute(sql, args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        with self.round_trips.timed("executemany"):
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
