"""Several processes opening a fresh SQLite file at the same moment (workers booting together): the
WAL switch and the schema creation take turns, so none fails with "database is locked"."""
from __future__ import annotations

import multiprocessing
import traceback

from storage.sqlite.backend import SQLiteStore

PROCESSES = 8
ROUNDS = 25          # the race hit about one fresh file in ten before the fix


def boot(path: str, user_id: int, barrier, results) -> None:
    barrier.wait()
    try:
        store = SQLiteStore(path)
        created = store.init_schema()
        store.users.register(user_id)
        store.close()
        results.put(("ok", bool(created)))
    except Exception:
        results.put(("error", traceback.format_exc()))


def test_processes_opening_a_fresh_file_at_once_all_succeed(tmp_path):
    ctx = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"fresh{round_}.sqlite3")
        barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [ctx.Process(target=boot, args=(path, uid, barrier, results)) for uid in range(1, PROCESSES + 1)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        errors = [detail for status, detail in outcomes if status == "error"]
        assert errors == []
        assert sum(created for _, created in outcomes) == 1       # exactly one process created the schema
        store = SQLiteStore(path)
        assert store.users.count() == PROCESSES and store.init_schema() == []
        store.close()


def test_a_file_made_before_a_column_was_added_gets_the_column(tmp_path):
    """A database from before `broadcasts.retrying` / `broadcast_recipients.tries` existed: opening it
    adds the columns (with their defaults) instead of failing on the first query that names them."""
    import sqlite3

    from storage.instrumentation import RoundTrips
    from storage.sqlite.connection import SQLiteDatabase
    from storage.sqlite.schema import init_schema

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE broadcasts (id TEXT PRIMARY KEY, message TEXT NOT NULL, segment TEXT NOT NULL, "
                "created_by INTEGER NOT NULL, status TEXT NOT NULL, total INTEGER NOT NULL DEFAULT 0, "
                "sent INTEGER NOT NULL DEFAULT 0, blocked INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL "
                "DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0, cursor INTEGER NOT NULL DEFAULT 0, created_at REAL "
                "NOT NULL, started_at REAL, finished_at REAL, updated_at REAL NOT NULL)")
    old.execute("INSERT INTO broadcasts (id, message, segment, created_by, status, created_at, updated_at) "
                "VALUES ('b1', '{}', '{}', 1, 'done', 0, 0)")
    old.execute("CREATE TABLE broadcast_recipients (broadcast_id TEXT NOT NULL, user_id INTEGER NOT NULL, "
                "status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', at REAL NOT NULL, "
                "PRIMARY KEY (broadcast_id, user_id))")
    old.commit()
    old.close()

    db = SQLiteDatabase(str(path), RoundTrips("sqlite"))
    created = init_schema(db)
    assert "column broadcasts.retrying" in created and "column broadcast_recipients.tries" in created
    assert db.scalar("SELECT retrying FROM broadcasts WHERE id = 'b1'") == 0
    assert init_schema(db) == []                       # a second start adds nothing
