"""Per-token bot state: the update queue, chats and users, messages, membership, blocks, files.

One `BotState` per bot token, created on first use. Everything here is plain data plus the
small operations every method needs (push an update, confirm an offset, resolve a chat, record
what the bot sent); Bot API semantics live in the method modules.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from botrunner.emulator.envelope import bad_request, encode, forbidden
from botrunner.emulator.options import EmulatorOptions

# Telegram sends these only when asked for explicitly in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class StoredUpdate:
    """One queued update, encoded once at injection (getUpdates and webhooks only join bytes)."""

    __slots__ = ("update_id", "kind", "chat_key", "payload", "injected_at", "injected_mono")

    def __init__(self, update_id: int, kind: str, chat_key: int | None, payload: bytes) -> None:
        self.update_id = update_id
        self.kind = kind
        self.chat_key = chat_key
        self.payload = payload
        self.injected_at = time.time()
        self.injected_mono = time.monotonic()


class BotState:
    """Everything the server knows about one bot token."""

    def __init__(self, token: str, options: EmulatorOptions) -> None:
        self.token = token
        self.options = options
        self.bot_id = int(token.split(":", 1)[0])
        self.user: dict[str, Any] = {"id": self.bot_id, "is_bot": True, "first_name": "Emulated Bot",
                     "username": f"emulated_{self.bot_id}_bot"}
        self.updates: deque[StoredUpdate] = deque()
        self.next_update_id = options.first_update_id
        self.allowed_updates: list[str] | None = None
        self.chats: dict[int, dict[str, Any]] = {}
        self.usernames: dict[str, int] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}
        self.last_message_id: dict[int, int] = {}
        self.sent: dict[int, list[dict[str, Any]]] = {}
        self.sent_waiters: dict[int, list[asyncio.Future]] = {}
        self.last_inject: dict[int, float] = {}
        self.members: dict[tuple[int, int], dict[str, Any]] = {}
        self.blocked: dict[int, str] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.callbacks: dict[str, dict[str, Any]] = {}
        self.callback_seq = 0
        self.files: dict[str, dict[str, Any]] = {}
        self.buckets: dict[Any, Any] = {}
        # Owned by polling.py / webhook.py; push_update() wakes them.
        self.poll: Any = None
        self.webhook: Any = None
        self.webhook_set_at: float | None = None

    # ---- updates -------------------------------------------------------------------------------

    def wants(self, kind: str) -> bool:
        """allowed_updates filter: an explicit list wins; otherwise every type but the opt-in ones."""
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in OPT_IN_UPDATES

    def push_update(self, update: dict[str, Any], chat_key: int | None = None,
                    keep_id: bool = False) -> StoredUpdate | None:
        """Assign the next update_id, encode, queue and wake the poller/webhook; None if filtered out."""
        kind = next((k for k in update if k != "update_id"), "")
        if kind and not self.wants(kind):
            return None
        if keep_id and isinstance(update.get("update_id"), int):
            self.next_update_id = max(self.next_update_id, update["update_id"] + 1)
        else:
            update = {"update_id": self.next_update_id, **{k: v for k, v in update.items() if k != "update_id"}}
            self.next_update_id += 1
        stored = StoredUpdate(update["update_id"], kind, chat_key, encode(update))
        self.updates.append(stored)
        if chat_key is not None:
            self.last_inject[chat_key] = stored.injected_mono
        if self.poll is not None:
            self.poll.wake()
        if self.webhook is not None:
            self.webhook.wake()
        return stored

    def confirm(self, offset: int) -> None:
        """offset > 0 forgets every update with a smaller id; offset < 0 keeps only the last -offset."""
        queue = self.updates
        if offset > 0:
            while queue and queue[0].update_id < offset:
                queue.popleft()
        elif offset < 0:
            while len(queue) > -offset:
                queue.popleft()

    def pending(self, limit: int = 100) -> list[StoredUpdate]:
        """The first `limit` unconfirmed updates, after dropping those older than update_ttl."""
        queue = self.updates
        expiry = time.monotonic() - self.options.update_ttl
        while queue and queue[0].injected_mono < expiry:
            queue.popleft()
        if len(queue) <= limit:
            return list(queue)
        return [queue[i] for i in range(limit)]

    # ---- chats, users, messages -----------------------------------------------------------------

    def remember_chat(self, chat: dict[str, Any]) -> dict[str, Any]:
        known = self.chats.setdefault(chat["id"], chat)
        known.update(chat)
        if chat.get("username"):
            self.usernames[chat["username"].lower()] = chat["id"]
        return known

    def chat(self, chat_id: Any) -> dict[str, Any]:
        """Resolve chat_id (int or "@username") to a chat the bot may talk to, or "chat not found"."""
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            found = self.usernames.get(chat_id[1:].lower())
            if found is not None and self.chats[found]["type"] == "private":
                found = None      # bots cannot address users by @username
        else:
            try:
                found = int(chat_id)
            except (TypeError, ValueError):
                found = None
        if found is None or found not in self.chats:
            raise bad_request("chat not found")
        return self.chats[found]

    def check_can_write(self, chat: dict[str, Any]) -> None:
        """403s for users who blocked the bot and for groups the bot was removed from."""
        if chat["type"] == "private":
            reason = self.blocked.get(chat["id"])
            if reason:
                raise forbidden("user is deactivated" if reason == "deactivated" else "bot was blocked by the user")
            return
        status = self.members.get((chat["id"], self.bot_id), {}).get("status")
        if status == "kicked":
            raise forbidden(f"bot was kicked from the {chat['type']} chat")
        if status == "left":
            raise forbidden(f"bot is not a member of the {chat['type']} chat")

    def new_message_id(self, chat_id: int) -> int:
        """Message ids increase per chat and are shared by the users' and the bot's messages."""
        message_id = self.last_message_id.get(chat_id, 0) + 1
        self.last_message_id[chat_id] = message_id
        return message_id

    def store_message(self, message: dict[str, Any]) -> None:
        self.messages.setdefault(message["chat"]["id"], {})[message["message_id"]] = message

    def find_message(self, chat_id: int, message_id: int | None) -> dict[str, Any] | None:
        return self.messages.get(chat_id, {}).get(message_id) if message_id is not None else None

    def record_sent(self, chat_id: int, method: str, **fields: Any) -> dict[str, Any]:
        """Append to the per-chat log of what the bot did and wake anyone waiting for it."""
        log = self.sent.setdefault(chat_id, [])
        mono = time.monotonic()
        injected = self.last_inject.get(chat_id)
        entry = {"index": len(log), "method": method, "chat_id": chat_id, "time": time.time(), "monotonic": mono,
                 "since_inject": None if injected is None else mono - injected, **fields}
        log.append(entry)
        for waiter in self.sent_waiters.pop(chat_id, ()):
            if not waiter.done():
                waiter.set_result(None)
        return entry

    def user_record(self, user_id: int) -> dict[str, Any]:
        return self.users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}

    def close(self) -> None:
        """Release held requests (a reset or shutdown must not leave clients hanging)."""
        if self.poll is not None:
            self.poll.close()
        if self.webhook is not None:
            self.webhook.stop()
        for waiters in self.sent_waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        self.sent_waiters.clear()
