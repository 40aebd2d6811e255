"""A fake context for handler tests: real router, real SQLite store and Redis, no network, no workers.

`Bot.command / text / press` build Telegram updates, run the router synchronously and return the
Bot API calls the handler queued (what a worker would send).
"""
from __future__ import annotations

import itertools
from typing import Any

from botrunner.bot.context import Context, Services
from botrunner.bot.states import MemoryStates

ADMIN = 900


class FakeApi:
    """getChatMember answers from a dict; None for 'Telegram could not be asked'."""

    def __init__(self) -> None:
        self.members: dict[tuple[str, int], bool | None] = {}

    def is_member(self, chat_id, user_id):
        return self.members.get((str(chat_id), user_id), False)


class Bot:
    """Drives handlers.app's router with hand-built updates."""

    def __init__(self, router, runtime) -> None:
        self.router = router
        self.rt = runtime
        self.services = Services(bot=runtime, store=runtime.store)
        self.states = MemoryStates()
        self.ids = itertools.count(1)
        self.last: dict[int, list] = {}

    def _user(self, user_id: int, **extra: Any) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": extra.get("first_name", f"U{user_id}"),
                "username": extra.get("username", f"user{user_id}"), "language_code": extra.get("lang", "en"),
                **({"is_premium": True} if extra.get("premium") else {})}

    def run(self, update: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        ctx = Context(update, services=self.services, states=self.states)
        self.router.handle(ctx)
        return ctx.outbox

    def text(self, user_id: int, text: str, **extra: Any):
        n = next(self.ids)
        message = {"message_id": n, "date": 0, "chat": {"id": user_id, "type": extra.pop("chat_type", "private")},
                   "from": self._user(user_id, **extra), "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        out = self.run({"update_id": n, "message": message})
        self.last[user_id] = out
        return out

    def command(self, user_id: int, command: str, args: str = "", **extra: Any):
        return self.text(user_id, f"/{command}" + (f" {args}" if args else ""), **extra)

    def callback_update(self, user_id: int, data: str, message_text: str = "menu", **extra: Any) -> dict[str, Any]:
        """A callback_query update with a fresh update id (run it twice to model a redelivery)."""
        n = next(self.ids)
        query = {"id": str(n), "from": self._user(user_id, **extra), "chat_instance": "1", "data": data,
                 "message": {"message_id": 1, "date": 0, "chat": {"id": user_id, "type": "private"},
                             "text": message_text}}
        return {"update_id": n, "callback_query": query}

    def press(self, user_id: int, data: str, message_text: str = "menu", **extra: Any):
        """A button press with raw callback data (use `button()` to get a signed one)."""
        out = self.run(self.callback_update(user_id, data, message_text, **extra))
        self.last[user_id] = out
        return out

    def click(self, user_id: int, payload: str, **extra: Any):
        """Press a button whose payload was signed for `user_id`, as the bot would have made it."""
        return self.press(user_id, self.rt.signer.sign(user_id, payload), **extra)

    def join(self, user_id: int, payload: str = "", **extra: Any):
        """/start and solve the captcha."""
        self.command(user_id, "start", payload, **extra)
        code = self.captcha_code(user_id)
        return self.text(user_id, code, **extra) if code else self.last[user_id]

    def captcha_code(self, user_id: int) -> str | None:
        return (self.rt.sessions.get(user_id, user_id).get("captcha") or {}).get("code")


def texts(outbox) -> list[str]:
    """Every text or caption the bot queued, in order."""
    return [p.get("text") or p.get("caption") or "" for _, p in outbox]


def joined(outbox) -> str:
    return "\n".join(texts(outbox))


def buttons(outbox) -> list[dict[str, str]]:
    """Every inline button of the queued messages."""
    found = []
    for _, params in outbox:
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            found.extend(row)
    return found


def button_data(outbox, prefix: str) -> str:
    """The callback data of the first button whose payload starts with `prefix`."""
    for b in buttons(outbox):
        if b.get("callback_data", "").startswith(prefix):
            return b["callback_data"]
    raise AssertionError(f"no button {prefix!r} in {buttons(outbox)}")
