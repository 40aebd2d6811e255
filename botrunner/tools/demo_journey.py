"""The simulated user of `botrunner demo`: one airdrop-bot journey through the local Bot API server.

/start with a referral payload -> captcha photo -> the answer -> menu -> Tasks button -> the daily
check-in task -> Check in -> /points -> /leaderboard. A simulated user cannot read the captcha
image, so it reads the code from its conversation session, as the end-to-end tests do.
Each step's latency runs from injecting the update to the bot's first call into that chat.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botrunner.emulator.client import ControlClient
from botrunner.errors import JourneyFailed

# (step name, what the user does, label of the button the bot's answer must carry, or None)
STEPS = (
    ("start", "command:start", None),
    ("captcha", "captcha", "Tasks"),
    ("tasks", "press:Tasks", "Daily check-in"),
    ("task", "press:Daily check-in", "Check in"),
    ("check-in", "press:Check in", None),
    ("points", "command:points", None),
    ("leaderboard", "command:leaderboard", None),
)


@dataclass
class Journey:
    """Runs STEPS for one user; `on_reply(step, latency_ms)` is told about every answered step."""

    control: ControlClient
    token: str
    captcha_code: Callable[[int], str]
    on_reply: Callable[[str, float], None]
    timeout: float = 30.0

    def run(self, user_id: int, referrer: int | None = None) -> str | None:
        """None when every step was answered, else the name of the step that was not."""
        last: dict[str, Any] = {"index": -1, "entry": None}
        for name, action, expect in STEPS:
            try:
                since = self._act(user_id, action, referrer, last["entry"])
                last["entry"] = self._await(user_id, since, expect, last, name)
            except JourneyFailed:
                return name
        return None

    def _act(self, user_id: int, action: str, referrer: int | None, entry: dict | None) -> float:
        kind, _, arg = action.partition(":")
        who = {"first_name": f"Demo{user_id}", "language_code": "en"}
        if kind == "command":
            args = str(referrer) if arg == "start" and referrer else ""
            injected = self.control.inject_command(self.token, user_id, arg, args=args, **who)
        elif kind == "captcha":
            injected = self.control.inject_message(self.token, user_id, self.captcha_code(user_id), **who)
        else:
            data = button_data(entry, arg)
            if data is None or entry is None:
                raise JourneyFailed(action)
            injected = self.control.inject_callback(self.token, user_id, entry["message"]["message_id"], data)
        return injected["inject_time"]

    def _await(self, user_id: int, since: float, expect: str | None, last: dict, step: str) -> dict:
        """The first bot call into this chat after `since` times the step; with `expect`, wait on for a
        message carrying that button (the bot may answer a callback before it edits the message)."""
        deadline = time.monotonic() + self.timeout
        timed = False
        while (remaining := deadline - time.monotonic()) > 0:
            entry = self.control.wait_for_message(self.token, user_id, after_index=last["index"], timeout=remaining)
            if entry is None:
                break
            last["index"] = entry["index"]
            if entry["time"] < since:
                continue                     # a late call belonging to the step before
            if not timed:
                self.on_reply(step, max(0.0, entry["time"] - since) * 1000.0)
                timed = True
            if expect is None or button_data(entry, expect) is not None:
                return entry
        raise JourneyFailed(step)


def button_data(entry: dict | None, label: str) -> str | None:
    """callback_data of the first inline button whose text contains `label`."""
    markup = ((entry or {}).get("message") or {}).get("reply_markup") or {}
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if label in button.get("text", "") and "callback_data" in button:
                return button["callback_data"]
    return None
