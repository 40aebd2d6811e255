"""Reading an update's raw dict without building a `telegram.Update`, and the check that stands in for
that parse on the hot kinds.

`Update.de_json` costs tens of microseconds per update (a worker's largest single cost on a one-reply
handler), while the router and most handlers only need the chat, the user, the text or the callback
data. `Context` therefore parses lazily (the first read of `ctx.update`) and answers `chat_id`,
`user_id`, `text`, `command`, `callback_data` and the filters from the raw dict with the accessors
here, which follow PTB's `Update.effective_chat` / `effective_user` / `effective_message` (same kinds,
same order; tests/bot/test_raw_update.py compares them on every kind).

What parsing also did was decide that an update is valid. `check` keeps that decision: messages and
callback queries (nearly every update a bot gets) are checked for what PTB requires of them (ids,
date, and a well-formed chat and sender where given) without building objects; any other kind is
parsed in full, as before. A defect deeper inside a checked update (a malformed entity, say)
surfaces when a handler reads `ctx.update`, which raises Unparseable there: the processor
dead-letters the update at once, as it did when the parse came first.
"""
from __future__ import annotations

from typing import Any, TypeGuard, TypeVar

import telegram

from botrunner.errors import Unparseable

Raw = dict[str, Any]
T = TypeVar("T", bound=telegram.TelegramObject)

# PTB's Update.effective_chat: the message kinds (their `chat`), then the kinds with a `chat` of their own
CHAT_MESSAGES = ("message", "edited_message", "channel_post", "edited_channel_post", "business_message",
                 "edited_business_message", "deleted_business_messages", "guest_message")
CHAT_HOLDERS = ("my_chat_member", "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
                "message_reaction", "message_reaction_count")
# PTB's Update.effective_user: (kind, field holding the user), in its order
USER_HOLDERS = (("message", "from"), ("edited_message", "from"), ("business_message", "from"),
                ("edited_business_message", "from"), ("guest_message", "from"), ("channel_post", "from"),
                ("edited_channel_post", "from"), ("inline_query", "from"), ("chosen_inline_result", "from"),
                ("callback_query", "from"), ("shipping_query", "from"), ("pre_checkout_query", "from"),
                ("poll_answer", "user"), ("my_chat_member", "from"), ("chat_member", "from"),
                ("chat_join_request", "from"), ("message_reaction", "user"), ("business_connection", "user"),
                ("purchased_paid_media", "from"), ("managed_bot", "user"))
# PTB's Update.effective_message (a callback query's message too: PTB 22 parses even an inaccessible
# one, date 0, as a Message)
MESSAGE_KINDS = ("message", "edited_message", "callback_query", "channel_post", "edited_channel_post",
                 "business_message", "edited_business_message", "guest_message")
CHECKED_MESSAGES = ("message", "edited_message", "channel_post", "edited_channel_post", "business_message",
                    "edited_business_message")


def _object(value: Any) -> Raw | None:
    return value if isinstance(value, dict) else None


def is_integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def id_of(obj: Raw | None) -> int | None:
    found = obj.get("id") if obj is not None else None
    return found if is_integer(found) else None


def effective_chat(raw: Raw) -> Raw | None:
    """The chat object `Update.effective_chat` would build, as a dict (None where it gives None)."""
    for kind in CHAT_MESSAGES:
        message = _object(raw.get(kind))
        if message:
            return _object(message.get("chat"))
    query = _object(raw.get("callback_query"))
    if query:
        message = _object(query.get("message"))
        if message:
            return _object(message.get("chat"))
    for kind in CHAT_HOLDERS:
        holder = _object(raw.get(kind))
        if holder:
            return _object(holder.get("chat"))
    return None


def effective_user(raw: Raw) -> Raw | None:
    """The user object `Update.effective_user` would build, as a dict (None where it gives None)."""
    for kind, field in USER_HOLDERS:
        holder = _object(raw.get(kind))
        if holder:
            return _object(holder.get(field))
    return None


def effective_message(raw: Raw) -> Raw | None:
    """The message `Update.effective_message` would give, as a dict (PTB 22 parses a callback query's
    message, inaccessible ones (date 0) included, as a Message)."""
    for kind in MESSAGE_KINDS:
        holder = _object(raw.get(kind))
        if not holder:
            continue
        return holder if kind != "callback_query" else _object(holder.get("message"))
    return None


def chat_id(raw: Raw) -> int | None:
    return id_of(effective_chat(raw))


def user_id(raw: Raw) -> int | None:
    return id_of(effective_user(raw))


def message_of(raw: Raw) -> Raw | None:
    """`update.message or update.edited_message`: what the router treats as a message to route."""
    return _object(raw.get("message")) or _object(raw.get("edited_message"))


def holds(raw: Raw, kind: str) -> bool:
    """The update carries an object of this kind (`getattr(update, kind) is not None` after a parse)."""
    return _object(raw.get(kind)) is not None


def object_at(obj: Raw | None, field: str) -> Raw | None:
    return _object(obj.get(field)) if obj is not None else None


def build(cls: type[T], data: Raw) -> T:
    """One PTB object (a User, a Chat) from its own dict; raises Unparseable."""
    try:
        found = cls.de_json(data, None)
    except Exception as exc:
        raise Unparseable(f"not a valid Telegram {cls.__name__}: {exc!r}") from None
    if found is None:
        raise Unparseable(f"not a valid Telegram {cls.__name__}")
    return found


def callback_query(raw: Raw) -> Raw | None:
    return _object(raw.get("callback_query"))


def string(obj: Raw | None, field: str) -> str | None:
    found = obj.get(field) if obj is not None else None
    return found if isinstance(found, str) else None


# --- the validity check that stands in for the parse ---
def _user_ok(user: Any) -> bool:
    return (isinstance(user, dict) and is_integer(user.get("id")) and isinstance(user.get("is_bot"), bool)
            and isinstance(user.get("first_name"), str))


def _chat_ok(chat: Any) -> bool:
    return isinstance(chat, dict) and is_integer(chat.get("id")) and isinstance(chat.get("type"), str)


def _optional(obj: Raw, field: str, ok: Any) -> bool:
    return obj.get(field) is None or bool(ok(obj[field]))


def _message_ok(message: Any) -> bool:
    """What PTB 22's Message requires: message_id and date; chat and from are optional but, when
    given, must be a chat (id, type) and a user (id, is_bot, first_name)."""
    return (isinstance(message, dict) and is_integer(message.get("message_id")) and is_integer(message.get("date"))
            and _optional(message, "chat", _chat_ok) and _optional(message, "from", _user_ok))


def _checked(raw: Raw) -> bool | None:
    """True/False: a message or callback query update that holds / lacks what PTB requires;
    None: another kind (parse it to know)."""
    kinds = [key for key, value in raw.items() if key != "update_id" and value is not None]
    if len(kinds) != 1 or not is_integer(raw.get("update_id")):
        return None
    kind = kinds[0]
    if kind in CHECKED_MESSAGES:
        return _message_ok(raw[kind])
    if kind == "callback_query":
        query = raw[kind]
        return (isinstance(query, dict) and isinstance(query.get("id"), str)
                and isinstance(query.get("chat_instance"), str) and _optional(query, "from", _user_ok)
                and _optional(query, "message", _message_ok))
    return None


def parse(raw: Raw) -> telegram.Update:
    """The full `telegram.Update`; raises Unparseable."""
    try:
        update = telegram.Update.de_json(raw, None)
    except Exception as exc:
        raise Unparseable(f"not a valid Telegram Update: {exc!r}") from None
    if update is None:
        raise Unparseable("not a Telegram update")
    return update


def check(raw: Any) -> telegram.Update | None:
    """Raise Unparseable for an update PTB would reject; returns the parsed Update when deciding took a
    parse (kinds other than messages and callback queries), None when the shape check sufficed."""
    if not isinstance(raw, dict):
        raise Unparseable("the update is not a JSON object")
    verdict = _checked(raw)
    if verdict is None:
        return parse(raw)
    if not verdict:
        raise Unparseable("not a valid Telegram Update: a message or callback query lacks a required field")
    return None
