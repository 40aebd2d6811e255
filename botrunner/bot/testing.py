"""Handler unit tests without Redis, network or workers: build updates, run the router, look at what it queued.

    bot = BotTester(router, services=Services(db=FakeDb()))
    out = bot.command(42, "start")              # [("sendMessage", {...}), ...] the worker would send
    assert bot.texts(out) == ["Hello!"]
    bot.press(42, "menu:open")                  # a button press
    bot.photo(42)                               # a photo message

Each update runs like in a worker: a fresh `Context`, the router's middlewares and handler, then the
staged conversation writes are stored (`MemoryStates`) only if the handler returned; an exception
propagates to the test and leaves the conversation as it was.
"""
from __future__ import annotations

import itertools
from typing import Any

from botrunner.bot import raw_update
from botrunner.bot.context import Context, Services
from botrunner.bot.router import Router
from botrunner.bot.states import MemoryStates, StateStore

Outbox = list[tuple[str, dict[str, Any]]]


class BotTester:
    """Drives a router with hand-built updates from private chats (chat id = user id by default)."""

    def __init__(self, router: Router, services: Services | None = None, states: StateStore | None = None,
                 bot_username: str = "testbot") -> None:
        self.router = router
        self.services = services or Services()
        self.states: StateStore = states if states is not None else MemoryStates()
        self.bot_username = bot_username
        self.ids = itertools.count(1)
        self.last: dict[int, Outbox] = {}
        self.last_context: Context | None = None

    # --- running ---
    def run(self, update: dict[str, Any]) -> Outbox:
        """Handle one raw update; returns the queued Bot API calls. Raises Unparseable where a worker
        would dead-letter the update unhandled."""
        ctx = Context(update, raw_update.check(update), services=self.services, states=self.states,
                      bot_username=self.bot_username)
        self.last_context = ctx
        self.router.handle(ctx)
        self.services.flush()
        ctx.commit_state()
        return ctx.outbox

    def _remember(self, user_id: int, out: Outbox) -> Outbox:
        self.last[user_id] = out
        return out

    # --- updates ---
    def user(self, user_id: int, **extra: Any) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": extra.get("first_name", f"U{user_id}"),
                "username": extra.get("username", f"user{user_id}"), "language_code": extra.get("lang", "en"),
                **({"is_premium": True} if extra.get("premium") else {})}

    def message(self, user_id: int, content: dict[str, Any], chat_type: str = "private", chat_id: int | None = None,
                **extra: Any) -> Outbox:
        """A message update with `content` (e.g. {"text": ...} or {"photo": [...]})."""
        n = next(self.ids)
        message = {"message_id": n, "date": 0, "chat": {"id": chat_id or user_id, "type": chat_type},
                   "from": self.user(user_id, **extra), **content}
        return self._remember(user_id, self.run({"update_id": n, "message": message}))

    def text(self, user_id: int, text: str, **extra: Any) -> Outbox:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self.message(user_id, content, **extra)

    def command(self, user_id: int, command: str, args: str = "", **extra: Any) -> Outbox:
        return self.text(user_id, f"/{command}" + (f" {args}" if args else ""), **extra)

    def photo(self, user_id: int, caption: str | None = None, file_id: str = "photo-1", **extra: Any) -> Outbox:
        size = {"file_id": file_id, "file_unique_id": file_id, "width": 90, "height": 90}
        return self.message(user_id, {"photo": [size], **({"caption": caption} if caption else {})}, **extra)

    def document(self, user_id: int, file_name: str = "file.pdf", file_id: str = "doc-1", **extra: Any) -> Outbox:
        return self.message(user_id, {"document": {"file_id": file_id, "file_unique_id": file_id,
                                                   "file_name": file_name}}, **extra)

    def callback_update(self, user_id: int, data: str, message_text: str = "menu", **extra: Any) -> dict[str, Any]:
        """A callback_query update with a fresh update id (run it twice to model a redelivery)."""
        n = next(self.ids)
        query = {"id": str(n), "from": self.user(user_id, **extra), "chat_instance": "1", "data": data,
                 "message": {"message_id": 1, "date": 0, "chat": {"id": user_id, "type": "private"},
                             "text": message_text}}
        return {"update_id": n, "callback_query": query}

    def press(self, user_id: int, data: str, message_text: str = "menu", **extra: Any) -> Outbox:
        """A press of a button carrying `data` (exactly: sign it first if the bot checks signatures)."""
        return self._remember(user_id, self.run(self.callback_update(user_id, data, message_text, **extra)))

    def member_update(self, user_id: int, status: str = "kicked", **extra: Any) -> Outbox:
        """my_chat_member: the user blocked ("kicked") or restarted ("member") the bot."""
        n = next(self.ids)
        me = {"id": 1, "is_bot": True, "first_name": "bot"}
        update = {"update_id": n, "my_chat_member": {
            "chat": {"id": user_id, "type": "private"}, "from": self.user(user_id, **extra), "date": 0,
            "old_chat_member": {"status": "member", "user": me},
            "new_chat_member": {"status": status, "user": me, **({"until_date": 0} if status == "kicked" else {})}}}
        return self._remember(user_id, self.run(update))

    # --- reading the outbox and the conversation ---
    def state_of(self, user_id: int, chat_id: int | None = None) -> str | None:
        return self.states.get(chat_id or user_id, user_id).state

    def data_of(self, user_id: int, chat_id: int | None = None) -> dict[str, Any]:
        return self.states.get(chat_id or user_id, user_id).data

    @staticmethod
    def texts(outbox: Outbox) -> list[str]:
        """Every text or caption queued, in order."""
        return [p.get("text") or p.get("caption") or "" for _, p in outbox]

    @staticmethod
    def buttons(outbox: Outbox) -> list[dict[str, str]]:
        """Every inline button of the queued messages."""
        return [b for _, p in outbox for row in (p.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
