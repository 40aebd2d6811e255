"""Broadcast records: the message, the segment it goes to, the broadcast and its per-recipient rows.

A broadcast moves draft -> running <-> paused -> done, or to cancelled from any state but done. Each
recipient gets one row per broadcast (primary key (broadcast, user)), written *before* the message
is sent: a row that exists is never sent again, so a recipient gets the message at most once.
A row still `pending` when its owner died is in doubt (the send may or may not have reached
Telegram); the next owner marks it `skipped` rather than risk a second message.
A row Telegram refused with 429s (nothing delivered) waits as `retry` until its not-before time, then
is claimed pending again for a later pass: still at most once, since a 429 delivers nothing.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("draft", "running", "paused", "done", "cancelled")
#: status -> the statuses it may move to
TRANSITIONS = {"draft": {"running", "cancelled"}, "running": {"paused", "done", "cancelled"},
               "paused": {"running", "cancelled"}, "done": set(), "cancelled": set()}
RECIPIENT_STATUSES = ("pending", "retry", "sent", "blocked", "failed", "skipped")
COUNTERS = ("sent", "blocked", "failed", "skipped")
PARSE_MODES = ("", "HTML", "MarkdownV2", "Markdown")
DAY_S = 86400            # segments' 'active within N days'


@dataclass(frozen=True)
class Message:
    """Text (with parse mode) or a photo (file id or URL) with caption; optional URL buttons."""

    text: str = ""
    parse_mode: str = ""
    photo: str = ""
    buttons: list[list[dict[str, str]]] = field(default_factory=list)   # rows of {"text", "url"}

    def __post_init__(self) -> None:
        if not self.text and not self.photo:
            raise ValueError("a broadcast message needs a text or a photo")
        if self.parse_mode not in PARSE_MODES:
            raise ValueError(f"parse_mode must be one of {PARSE_MODES}, not {self.parse_mode!r}")
        for row in self.buttons:
            for button in row:
                if not button.get("text") or not button.get("url"):
                    raise ValueError(f"a button needs a text and a url: {button!r}")

    def call(self, chat_id: int) -> tuple[str, dict[str, Any]]:
        """The Bot API call that sends this message to `chat_id`."""
        params: dict[str, Any] = {"chat_id": chat_id}
        if self.photo:
            method, params["photo"] = "sendPhoto", self.photo
            if self.text:
                params["caption"] = self.text
        else:
            method, params["text"] = "sendMessage", self.text
        if self.parse_mode:
            params["parse_mode"] = self.parse_mode
        if self.buttons:
            params["reply_markup"] = {"inline_keyboard": self.buttons}
        return method, params


@dataclass(frozen=True)
class Segment:
    """Who receives a broadcast: every user that has not blocked the bot and is not banned, narrowed
    by every field that is set (they combine with AND)."""

    verified: bool = False               # passed the captcha
    premium: bool = False
    with_wallet: bool = False
    with_referrals: bool = False         # referral_count >= 1
    points_min: int | None = None
    points_max: int | None = None
    active_days: int | None = None       # last_active_at within this many days
    language: str = ""
    ids: tuple[int, ...] = ()            # an explicit list (still minus blocked and banned)

    def __post_init__(self) -> None:
        if self.active_days is not None and self.active_days <= 0:
            raise ValueError("active_days must be positive")
        if self.points_min is not None and self.points_max is not None and self.points_min > self.points_max:
            raise ValueError("points_min is above points_max")
        object.__setattr__(self, "ids", tuple(sorted({int(i) for i in self.ids})))

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in dataclasses.asdict(self).items()
                           if v not in (False, None, "", ())}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | dict[str, Any]) -> Segment:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown segment field(s): {', '.join(sorted(unknown))}")
        if "ids" in data:
            data["ids"] = tuple(data["ids"])
        return cls(**data)


@dataclass(frozen=True)
class Broadcast:
    """One broadcast; `cursor` is the highest user id already handed to the sender (keyset position)."""

    id: str
    message: Message
    segment: Segment
    created_by: int
    status: str = "draft"
    total: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0            # rows waiting for a later pass (refused by 429s); not yet processed
    cursor: int = 0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0

    @property
    def processed(self) -> int:
        return self.sent + self.blocked + self.failed + self.skipped


@dataclass(frozen=True)
class Recipient:
    """One user's row in a broadcast: pending (claimed, being sent), retry (refused by 429s; `at` is
    when it may go again, `tries` the passes so far) or its final outcome."""

    broadcast_id: str
    user_id: int
    status: str
    reason: str = ""
    at: float = 0.0
    tries: int = 0


def message_to_json(message: Message) -> str:
    return json.dumps(dataclasses.asdict(message), separators=(",", ":"))


def message_from_json(raw: str | dict[str, Any]) -> Message:
    data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return Message(**data)


def check_transition(current: str, new: str) -> None:
    if new not in STATUSES:
        raise ValueError(f"unknown broadcast status {new!r}")
    if new not in TRANSITIONS[current]:
        raise ValueError(f"a {current} broadcast cannot become {new}")
