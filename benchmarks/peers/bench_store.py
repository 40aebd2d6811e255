"""What every benchmark bot shares: the SQLite repository it registers users in, the reply text, and a
report of its database round trips that the harness reads (a file per process, rewritten 4 times a second).

Every bot registers through botrunner's own storage layer (`SQLiteStore.users.register`: one INSERT ...
ON CONFLICT DO NOTHING and two SELECTs, docs/data-model.md), so the systems do exactly the same database work. With
BENCH_WORKLOAD=reply (the reply-only burst) nobody registers: only the reply, what the runner costs.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from storage.sqlite.backend import SQLiteStore

REPLY = "Welcome, {name}! You are registered."
STATS_EVERY_S = 0.25


def open_store() -> SQLiteStore:
    """The SQLite file named by BENCH_SQLITE (the harness creates its schema before starting the bot)."""
    return SQLiteStore(os.environ["BENCH_SQLITE"])


def reply_only() -> bool:
    """BENCH_WORKLOAD=reply: the bots reply without touching the database."""
    return os.environ.get("BENCH_WORKLOAD", "register") == "reply"


def register(store: SQLiteStore, user) -> str:
    """Register a Telegram user (any object with id, username, first_name, ...); return the reply text."""
    if reply_only():
        return REPLY.format(name=user.first_name or "there")
    store.users.register(user.id, user.username or "", user.first_name or "", user.last_name or "",
                         user.language_code or "", bool(user.is_premium))
    return REPLY.format(name=user.first_name or "there")


class RoundTripReport:
    """Writes {"pid", "round_trips", "updates"} to BENCH_STATS_DIR/<pid>.json from a daemon thread."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.updates = 0
        self.lock = threading.Lock()
        self.path = Path(os.environ["BENCH_STATS_DIR"]) / f"{os.getpid()}.json"
        threading.Thread(target=self._loop, name="bench-stats", daemon=True).start()

    def count(self) -> None:
        with self.lock:
            self.updates += 1

    def _loop(self) -> None:
        stop = threading.Event()
        last = None
        while not stop.wait(STATS_EVERY_S):
            now = (self.store.round_trips.total, self.updates)
            if now != last:
                last = now
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"pid": os.getpid(), "round_trips": now[0], "updates": now[1]}))
                tmp.replace(self.path)
