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
