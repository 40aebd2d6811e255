"""The airdrop bot under botrunner.bot.testing: real router, real SQLite store and Redis, no network,
no workers. `Bot.command / text / press` build Telegram updates, run the router synchronously and
return the Bot API calls the handler queued (what a worker would send).
"""
from __future__ import annotations

from typing import Any

from botrunner.bot.context import Services
from botrunner.bot.states import MemoryStates
from botrunner.bot.testing import BotTester

ADMIN = 900


class FakeApi:
    """getChatMember answers from a dict; None for 'Telegram could not be asked'."""

    def __init__(self) -> None:
        self.members: dict[tuple[str, int], bool | None] = {}

    def is_member(self, chat_id, user_id):
        return self.members.get((str(chat_id), user_id), False)


class Bot(BotTester):
    """Drives handlers.app's router with hand-built updates (botrunner.bot.testing underneath)."""

    def __init__(self, router, runtime) -> None:
        super().__init__(router, Services(bot=runtime, store=runtime.store), MemoryStates(), bot_username="")
        self.rt = runtime

    def click(self, user_id: int, payload: str, **extra: Any):
        """Press a button whose payload was signed for `user_id`, as the bot would have made it."""
        return self.press(user_id, self.rt.signer.sign(user_id, payload), **extra)

    def join(self, user_id: int, payload: str = "", **extra: Any):
        """/start and solve the captcha."""
        self.command(user_id, "start", payload, **extra)
        code = self.captcha_code(user_id)
        return self.text(user_id, code, **extra) if code else self.last[user_id]

    def captcha_code(self, user_id: int) -> str | None:
        return (self.data_of(user_id).get("captcha") or {}).get("code")


texts = BotTester.texts          # every text or caption queued, in order
buttons = BotTester.buttons      # every inline button of the queued messages


def joined(outbox) -> str:
    return "\n".join(texts(outbox))


def button_data(outbox, prefix: str) -> str:
    """The callback data of the first button whose payload starts with `prefix`."""
    for b in buttons(outbox):
        if b.get("callback_data", "").startswith(prefix):
            return b["callback_data"]
    raise AssertionError(f"no button {prefix!r} in {buttons(outbox)}")
