"""Shared UI pieces of the airdrop bot: answer in place or anew, signed buttons, keyboards, the
referral link. Feature modules import these from here (never from each other), so no import circle."""
from __future__ import annotations

from typing import Any

from botrunner.bot import raw_update
from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context


def respond(ctx: Context, text: str, markup: dict[str, Any] | None = None) -> None:
    """Edit the message a button belongs to (callbacks), else send a new one."""
    message = raw_update.object_at(raw_update.callback_query(ctx.raw), "message")
    if message is not None and message.get("text"):
        ctx.edit(text, reply_markup=markup)
    else:
        ctx.reply(text, reply_markup=markup)


def button(ctx: Context, text: str, payload: str | CallbackData, user_id: int | None = None) -> dict[str, str]:
    """An inline button whose data only `user_id` (default: this update's user) can use."""
    packed = payload if isinstance(payload, str) else payload.pack()
    return {"text": text, "callback_data": ctx.services.bot.signer.sign(user_id or ctx.user_id, packed)}


def url_button(text: str, url: str) -> dict[str, str]:
    return {"text": text, "url": url}


def keyboard(*rows: list[dict[str, str]]) -> dict[str, Any]:
    return {"inline_keyboard": [row for row in rows if row]}


def link(ctx: Context, user: Any) -> str:
    """The user's referral link: their custom code once locked, else their id."""
    code = user.referral_code if user.referral_code_locked and user.referral_code else str(user.id)
    return f"https://t.me/{ctx.services.bot.settings.bot_username}?start=ref_{code}"


def tell(ctx: Context, text: str) -> None:
    """A notice: an alert on the button for callbacks, a message otherwise."""
    if ctx.callback_data is not None:
        ctx.answer(text[:200], show_alert=True)
    else:
        ctx.reply(text)
