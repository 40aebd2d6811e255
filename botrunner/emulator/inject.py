"""Updates from simulated users: text messages, commands, callback queries, membership changes, raw.

Each builder records what the real server would know afterwards (the user, the chat, the user's
message in the chat's message store, the callback query id), then queues the update. The result
says which update_id it got and when it was injected, for latency measurements.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botrunner.emulator import members
from botrunner.emulator.state import BotState, StoredUpdate


class InjectError(ValueError):
    """The control request cannot become an update (e.g. a callback on a message the bot never sent)."""


def _user(state: BotState, user_id: int, first_name: str | None, username: str | None,
          language_code: str | None, is_premium: bool | None = None) -> dict[str, Any]:
    """The simulated user, remembered per token: later updates keep what earlier ones set."""
    user = dict(state.users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})
    if is_premium is not None:
        if is_premium:
            user["is_premium"] = True
        else:
            user.pop("is_premium", None)      # Telegram omits the field for non-premium users
    if first_name:
        user["first_name"] = first_name
    if username:
        user["username"] = username
    user["language_code"] = language_code or user.get("language_code") or "en"
    state.users[user_id] = user
    return user


def _chat(state: BotState, user: dict[str, Any], chat_id: int | None, chat_type: str | None,
          title: str | None) -> dict[str, Any]:
    if chat_id is None or chat_id == user["id"]:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if user.get("username"):
            chat["username"] = user["username"]
        return state.remember_chat(chat)
    return members.chat_for(state, chat_id, chat_type, title)


def _result(stored: StoredUpdate | None, **extra: Any) -> dict[str, Any]:
    if stored is None:
        return {"update_id": None, "filtered": True, **extra}
    return {"update_id": stored.update_id, "filtered": False, "inject_time": stored.injected_at,
            "inject_monotonic": stored.injected_mono, **extra}


def message(state: BotState, user_id: int, text: str, chat_id: int | None = None, chat_type: str | None = None,
            title: str | None = None, first_name: str | None = None, username: str | None = None,
            language_code: str | None = None, entities: list | None = None,
            reply_to_message_id: int | None = None, is_premium: bool | None = None) -> dict[str, Any]:
    """A text message from `user_id` in their private chat (or in group `chat_id`)."""
    user = _user(state, int(user_id), first_name, username, language_code, is_premium)
    chat = _chat(state, user, None if chat_id is None else int(chat_id), chat_type, title)
    msg: dict[str, Any] = {"message_id": state.new_message_id(chat["id"]), "from": user, "chat": chat,
                           "date": int(time.time()), "text": text}
    if entities:
        msg["entities"] = entities
    if reply_to_message_id is not None:
        target = state.find_message(chat["id"], int(reply_to_message_id))
        if target is not None:
            msg["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
    state.store_message(msg)
    stored = state.push_update({"message": msg}, chat["id"])
    return _result(stored, message_id=msg["message_id"], chat_id=chat["id"])


def command(state: BotState, user_id: int, command: str, args: str = "", mention: bool = False,
            **fields: Any) -> dict[str, Any]:
    """"/command args" with its bot_command entity; `mention` appends @botusername as in groups."""
    name = "/" + command.lstrip("/")
    if mention:
        name += "@" + state.user["username"]
    text = f"{name} {args}" if args else name
    entity = {"type": "bot_command", "offset": 0, "length": len(name)}
    return message(state, user_id, text, entities=[entity], **fields)


def callback(state: BotState, user_id: int, message_id: int, data: str, chat_id: int | None = None,
             first_name: str | None = None, username: str | None = None) -> dict[str, Any]:
    """A button press on message `message_id` the bot sent in `chat_id` (default: the user's chat)."""
    chat_id = int(user_id if chat_id is None else chat_id)
    target = state.find_message(chat_id, int(message_id))
    if target is None or target["from"]["id"] != state.bot_id:
        raise InjectError(f"the bot sent no message {message_id} in chat {chat_id}")
    user = _user(state, int(user_id), first_name, username, None)
    state.callback_seq += 1
    query_id = str(4_000_000_000_000_000_000 + state.bot_id % 1_000_000 * 1_000_000_000 + state.callback_seq)
    state.callbacks[query_id] = {"created": time.monotonic(), "answered": False, "chat_id": chat_id,
                                 "message_id": int(message_id), "user_id": user["id"], "data": data}
    query = {"id": query_id, "from": user, "message": target, "chat_instance": str(-chat_id * 7919 % 10**18),
             "data": data}
    stored = state.push_update({"callback_query": query}, chat_id)
    return _result(stored, callback_query_id=query_id, chat_id=chat_id, message_id=int(message_id))


def chat_member(state: BotState, chat_id: int, user_id: int, new_status: str, old_status: str | None = None,
                update_type: str = "chat_member", actor_id: int | None = None, chat_type: str | None = None,
                title: str | None = None) -> dict[str, Any]:
    """A membership change: update_type "chat_member", or "my_chat_member" (the bot's own membership).

    The membership state getChatMember reports changes with it. A private-chat my_chat_member
    to "kicked" is a user blocking the bot, and back to "member" unblocking it.
    """
    if update_type not in ("chat_member", "my_chat_member"):
        raise InjectError("update_type must be chat_member or my_chat_member")
    chat = members.chat_for(state, int(chat_id), chat_type, title)
    if update_type == "my_chat_member":
        user_id = state.bot_id
    previous = members.set_status(state, chat["id"], int(user_id), new_status)
    if update_type == "my_chat_member" and chat["type"] == "private":
        state.members.pop((chat["id"], state.bot_id), None)
        if new_status == "kicked":
            state.blocked[chat["id"]] = "blocked"
        else:
            state.blocked.pop(chat["id"], None)
    subject = state.user if int(user_id) == state.bot_id else state.user_record(int(user_id))
    actor = state.user_record(int(actor_id if actor_id is not None else
                                  (chat["id"] if chat["type"] == "private" else user_id)))
    change = {"chat": chat, "from": actor, "date": int(time.time()),
              "old_chat_member": members.member_object(subject, old_status or previous),
              "new_chat_member": members.member_object(subject, new_status)}
    stored = state.push_update({update_type: change}, chat["id"])
    return _result(stored, chat_id=chat["id"])


def raw(state: BotState, update: dict[str, Any], keep_update_id: bool = False,
        chat_id: int | None = None) -> dict[str, Any]:
    """Any dict as an update (malformed-update tests); update_id is assigned unless keep_update_id."""
    if not isinstance(update, dict):
        raise InjectError("update must be a JSON object")
    stored = state.push_update(update, None if chat_id is None else int(chat_id), keep_id=keep_update_id)
    return _result(stored)


KINDS: dict[str, Callable[..., dict[str, Any]]] = {
    "message": message, "command": command, "callback": callback, "chat_member": chat_member, "raw": raw}
