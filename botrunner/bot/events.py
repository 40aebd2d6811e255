"""Bot events: things the bot's own services learn outside Telegram (a Mini App verification) that
must be handled like the user's updates: durably, once, and in order with that user's messages.

An event travels as a synthetic update through the same intake script and lanes as Telegram's:
`{"update_id": -n, "botrunner_event": {"kind": ..., "from": {"id": uid}, "chat": {"id": uid,
"type": "private"}, "data": {...}}}`. Why this shape:
- the lane is chosen from `chat.id` like any update, so the event lands on the user's lane behind
  the updates already stored and before later ones (the order guarantee comes for free);
- update ids are negative, from their own Redis counter, so they never collide with Telegram's
  (always positive) in the 24 h dedup set, the done markers or the sender's journal;
- the key `botrunner_event` is one Telegram never sends, so a Telegram update cannot pose as an
  event, and only code holding the worker's Redis can create one;
- handlers register with `router.update(event("kind"))`; `Context.user_id` and `chat_id` read the
  event's `from` and `chat`, so middlewares (bans, conversation state) treat it as the user's.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

KEY = "botrunner_event"


class HasRaw(Protocol):
    """What the filters need of a Context (botrunner.bot.context imports this module)."""

    raw: dict[str, Any]


def make_event(update_id: int, kind: str, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """The synthetic update for one event of `user_id` (update_id negative, see the module docstring)."""
    if update_id >= 0:
        raise ValueError("event update ids are negative")
    return {"update_id": update_id, KEY: {"kind": kind, "from": {"id": user_id}, "chat": {"id": user_id, "type": "private"},
                                          "data": data}}


def event_of(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The event carried by a raw update, or None for a Telegram update."""
    found = raw.get(KEY) if isinstance(raw, dict) else None
    return found if isinstance(found, dict) else None


def event_user(raw: dict[str, Any]) -> int | None:
    found = event_of(raw)
    uid = ((found or {}).get("from") or {}).get("id")
    return uid if isinstance(uid, int) and not isinstance(uid, bool) else None


def event_data(ctx: HasRaw) -> dict[str, Any]:
    """The event's data (empty for a Telegram update)."""
    data = (event_of(ctx.raw) or {}).get("data")
    return data if isinstance(data, dict) else {}


def event(kind: str) -> Callable[[Any], bool]:
    """Filter: matches the events of this kind (`router.update(event("miniapp.verified"))`)."""
    def matches(ctx: HasRaw) -> bool:
        found = event_of(ctx.raw)
        return found is not None and found.get("kind") == kind
    matches.__name__ = f"event({kind!r})"
    return matches
