"""A live bot for end-to-end tests: `botrunner start` with handlers.app against the local Bot API
server, driven through the emulator's control plane. One cluster per test module (`live_bot`); tests
keep their state apart by using their own user ids.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from botrunner.bot.callback_data import Signer
from tests.lane_records import is_done
from tests.runner.conftest import KEYS, TOKEN, Cluster, wait_until

ADMIN = 900
TIMEOUT = 30.0


class LiveBot:
    """Inject updates as users, wait for what the bot sent them."""

    def __init__(self, control, cluster: Cluster) -> None:
        self.control = control
        self.cluster = cluster
        self.signer = Signer(TOKEN)

    # ---- acting as a user

    def command(self, user_id: int, command: str, args: str = "", **fields: Any) -> dict:
        return self.control.inject_command(TOKEN, user_id, command, args, **{"first_name": f"U{user_id}", **fields})

    def say(self, user_id: int, text: str, **fields: Any) -> dict:
        return self.control.inject_message(TOKEN, user_id, text, **{"first_name": f"U{user_id}", **fields})

    def press(self, user_id: int, payload: str, signed_for: int | None = None) -> dict:
        """Press a button with `payload`, signed as the bot signs it for `signed_for` (default: the
        presser), on the last message the bot sent in that chat."""
        return self.press_raw(user_id, self.signer.sign(signed_for or user_id, payload))

    def press_raw(self, user_id: int, data: str) -> dict:
        message_id = self.last_bot_message(user_id)["message_id"]
        return self.control.inject_callback(TOKEN, user_id, message_id, data)

    def enter(self, user_id: int, payload: str = "") -> None:
        """/start with the captcha off: registered and verified."""
        after = self.last_index(user_id)
        self.command(user_id, "start", payload)
        self.wait(user_id, "Verified", after)

    # ---- reading what the bot did

    def sent(self, user_id: int, after: int = -1) -> list[dict]:
        return self.control.sent(TOKEN, user_id, after)

    def last_index(self, user_id: int) -> int:
        log = self.sent(user_id)
        return log[-1]["index"] if log else -1

    def last_bot_message(self, user_id: int) -> dict:
        return next(e for e in reversed(self.sent(user_id)) if e.get("message_id"))

    def wait(self, user_id: int, needle: str, after: int = -1, timeout: float = TIMEOUT) -> dict:
        """The first entry after index `after` whose text (message, caption or alert) contains `needle`."""
        return wait_until(lambda: self.find(user_id, needle, after), timeout, 0.1,
                          what=f"{needle!r} in chat {user_id}")

    def find(self, user_id: int, needle: str, after: int = -1) -> dict | None:
        return next((e for e in self.sent(user_id, after) if needle in text_of(e)), None)

    def count(self, user_id: int, needle: str, after: int = -1) -> int:
        return sum(needle in text_of(e) for e in self.sent(user_id, after))

    def ask(self, user_id: int, command: str, needle: str, args: str = "") -> dict:
        """Send a command and wait for the reply containing `needle`."""
        after = self.last_index(user_id)
        self.command(user_id, command, args)
        return self.wait(user_id, needle, after)

    def tap(self, user_id: int, payload: str, needle: str, signed_for: int | None = None) -> dict:
        """Press a button and wait for the reply or alert containing `needle`."""
        after = self.last_index(user_id)
        self.press(user_id, payload, signed_for)
        return self.wait(user_id, needle, after)

    def completed(self, *injected: dict, timeout: float = TIMEOUT) -> None:
        """Wait until these injected updates are completed: handled, their writes flushed, their replies
        sent (the completion marker is set last). Then 'nothing else happened' can be checked."""
        client = self.cluster.client
        wait_until(lambda: all(is_done(client, KEYS, u["update_id"])
                               for u in injected),
                   timeout, 0.1, what=f"updates {[u['update_id'] for u in injected]} completed")

    # ---- the database, for time travel

    @contextmanager
    def database(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(Path(self.cluster.tmp_path) / "state" / "botrunner.sqlite3", timeout=15)
        try:
            yield conn
            conn.commit()
        finally:
            conn.close()

    def balance(self, user_id: int) -> int:
        with self.database() as db:
            return db.execute("SELECT points FROM users WHERE id = ?", (user_id,)).fetchone()[0]


def text_of(entry: dict) -> str:
    message = entry.get("message") or {}
    return entry.get("text") or message.get("caption") or ""


def number_after(pattern: str, text: str) -> str:
    """The first group of `pattern` in `text` (ids in replies, such as 'Submitted (#abc123)')."""
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return match.group(1)


@contextmanager
def live_bot(redis_url: str, tmp_path: Path, **env: str) -> Iterator[LiveBot]:
    """A two-worker cluster running handlers.app with `env`, and its control client."""
    from botrunner.emulator import running_emulator
    from botrunner.emulator.client import ControlClient
    redis.Redis.from_url(redis_url).flushall()
    with running_emulator(port=0) as emu, ControlClient(emu.url) as control:
        cluster = Cluster(tmp_path, redis_url, emu.url)
        try:
            cluster.start(workers=2, BOT_HANDLERS="handlers.app:router", ADMIN_USER_IDS=str(ADMIN), **env)
            yield LiveBot(control, cluster)
        finally:
            cluster.stop_all()
            cluster.client.close()
