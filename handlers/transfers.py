"""Transfers between users: recipient (id or @username), amount within TRANSFER_MIN/MAX_POINTS,
a burned fee of TRANSFER_FEE_PERCENTAGE, a one-time confirm button, DMs to both, history.

The daily limits (TRANSFER_DAILY_LIMIT transfers and TRANSFER_MAX_DAILY_POINTS points per 24 h) are
checked at confirmation under a per-user lock, so two confirmations at once cannot both pass;
the balance check is the repository's atomic transfer. The transfer is keyed by the confirm token
and the token is consumed after it: a redelivered confirmation finishes it, never repeats it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import callbacks, limits, names, numbers
from handlers.flags import SENSITIVE
from handlers.gate import clean_text
from handlers.runtime import runtime
from handlers.ui import button, keyboard, respond
from storage.records import keyed_id

TO_STATE = "tr_to"
AMOUNT_STATE = "tr_amount"
DAY_S = 86400
router = Router("transfers")


@dataclass
class TransferButton(CallbackData, prefix="tr"):
    """`tr:ok:<token>` confirms the offered transfer, `tr:no:<token>` cancels it."""
    choice: str = ""
    token: str = ""


def fee_for(amount: int, percentage: float) -> int:
    """The fee in whole points, rounded down (never more than the amount)."""
    return min(amount, int(amount * percentage // 100))


def start(ctx: Context) -> None:
    rt = runtime(ctx)
    if not rt.switch("transfer_enabled"):
        respond(ctx, rt.t(ctx, "transfer_disabled"))
        return
    if ctx.command and len(ctx.args) >= 2:          # /transfer <recipient> <amount>
        if _set_recipient(ctx, ctx.args[0][:64]):
            _set_amount(ctx, ctx.args[1][:20])
        return
    s = rt.settings
    ctx.set_state(TO_STATE)
    ctx.reply(rt.t(ctx, "transfer_ask_to", min=s.transfer_min_points, max=s.transfer_max_points,
                   fee=f"{s.transfer_fee_percentage:g}", daily=s.transfer_daily_limit,
                   daily_points=s.transfer_max_daily_points))


def on_recipient(ctx: Context) -> None:
    ctx.clear_state()
    if _set_recipient(ctx, clean_text(ctx, 64)):
        ctx.set_state(AMOUNT_STATE)
        ctx.reply(runtime(ctx).t(ctx, "transfer_ask_amount"))


def _set_recipient(ctx: Context, text: str) -> bool:
    rt = runtime(ctx)
    receiver = _find(ctx, text)
    if receiver is None:
        ctx.reply(rt.t(ctx, "transfer_no_user"))
        return False
    if receiver.id == ctx.user_id:
        ctx.reply(rt.t(ctx, "transfer_self"))
        return False
    if receiver.is_banned():
        ctx.reply(rt.t(ctx, "transfer_no_user"))
        return False
    session = ctx.state_data
    session["transfer_to"] = receiver.id
    ctx.set_state_data(session)
    return True


def _find(ctx: Context, text: str):
    users = runtime(ctx).store.users
    text = text.strip()
    uid = numbers.telegram_id(text)
    if uid is not None:
        return users.get(uid)
    if text.startswith("@") and 1 < len(text) <= 33:
        return users.find_by_username(text)
    return None


def on_amount(ctx: Context) -> None:
    ctx.clear_state()
    _set_amount(ctx, clean_text(ctx, 20))


def _set_amount(ctx: Context, text: str) -> None:
    rt = runtime(ctx)
    s = rt.settings
    receiver_id = ctx.state_data.get("transfer_to")
    amount = numbers.whole(text, s.transfer_min_points, s.transfer_max_points)
    if amount is None or receiver_id is None:
        ctx.reply(rt.t(ctx, "transfer_bad_amount", min=s.transfer_min_points, max=s.transfer_max_points))
        return
    if (rt.store.points.balance(ctx.user_id) or 0) < amount:
        ctx.reply(rt.t(ctx, "insufficient"))
        return
    fee = fee_for(amount, s.transfer_fee_percentage)
    token = callbacks.offer(ctx, "transfer", {"to": receiver_id, "amount": amount, "fee": fee},
                            s.transfer_confirm_timeout_s)
    receiver = rt.store.users.get(receiver_id)
    to = names.recipient(receiver) if receiver else str(receiver_id)
    ctx.reply(rt.t(ctx, "transfer_confirm", amount=amount, to=to, fee=fee, net=amount - fee),
              reply_markup=keyboard([button(ctx, rt.t(ctx, "btn_confirm"), TransferButton("ok", token)),
                                     button(ctx, rt.t(ctx, "btn_cancel"), TransferButton("no", token))]))


def confirm(ctx: Context) -> None:
    """Claim the token, move the points keyed by it, then consume it (see the module docstring)."""
    rt = runtime(ctx)
    pressed = TransferButton.of(ctx)
    claimed = callbacks.claim_confirmation(ctx, "transfer", pressed.token if pressed else "")
    if claimed is None:
        return
    token, offered = claimed
    key = f"transfer:{token}"
    record = rt.store.points.get_transfer(keyed_id(key))      # found: a redelivery after the points moved
    problem = None
    if record is None and not offered:                        # consumed by this update, nothing moved
        ctx.answer(rt.t(ctx, "action_expired"), show_alert=True)
        return
    if record is None:
        with limits.user_lock(ctx, "transfer") as locked:
            if not locked:
                callbacks.release(ctx, token)
                ctx.answer(rt.t(ctx, "busy"), show_alert=True)
                return
            problem = _refusal(ctx, offered["amount"])
            record = None if problem else rt.store.points.transfer(ctx.user_id, offered["to"], offered["amount"],
                                                                   offered["fee"], key=key)
    callbacks.consume(ctx, token)
    if problem or record is None:
        respond(ctx, problem or rt.t(ctx, "insufficient"))
        return
    respond(ctx, rt.t(ctx, "transfer_sent", amount=record.amount, to=record.receiver_id, fee=record.fee,
                      id=record.id))
    receiver = rt.store.users.get(record.receiver_id)
    lang = rt.texts.pick(receiver.language_code if receiver else "")
    ctx.send(record.receiver_id, rt.texts.get(lang, "transfer_received", amount=record.net, sender=ctx.user_id,
                                              id=record.id))
    alerts = rt.settings.transfer_alert_channel_id or rt.settings.withdraw_alert_channel_id
    if alerts:
        ctx.send(alerts, rt.texts.get("en", "transfer_alert", sender=record.sender_id, receiver=record.receiver_id,
                                      amount=record.amount, fee=record.fee, id=record.id))


def _refusal(ctx: Context, amount: int) -> str | None:
    """Why this confirmation may not go through now (transfers off, daily limits), else None."""
    rt = runtime(ctx)
    s = rt.settings
    if not rt.switch("transfer_enabled"):
        return rt.t(ctx, "transfer_disabled")
    count, total = rt.store.points.sent_since(ctx.user_id, time.time() - DAY_S)
    if count + 1 > s.transfer_daily_limit:
        return rt.t(ctx, "transfer_daily_count", limit=s.transfer_daily_limit)
    if total + amount > s.transfer_max_daily_points:
        return rt.t(ctx, "transfer_daily_points", limit=s.transfer_max_daily_points, left=s.transfer_max_daily_points - total)
    return None


def cancel(ctx: Context) -> None:
    pressed = TransferButton.of(ctx)
    callbacks.drop(ctx, pressed.token if pressed else "")
    respond(ctx, runtime(ctx).t(ctx, "cancelled"))


def history(ctx: Context) -> None:
    rt = runtime(ctx)
    rows = rt.store.points.transfers_for(ctx.user_id, 10)
    lines = "\n".join(
        (f"→ {t.receiver_id}  -{t.amount} (fee {t.fee})" if t.sender_id == ctx.user_id
         else f"← {t.sender_id}  +{t.net}") + time.strftime("  %m-%d %H:%M", time.gmtime(t.created_at))
        for t in rows)
    ctx.reply(rt.t(ctx, "transfer_history", lines=lines or "-"))


router.command("transfer", "send", flags=SENSITIVE)(start)
router.callback("m:tr", flags=SENSITIVE)(start)
router.state(TO_STATE)(on_recipient)
router.state(AMOUNT_STATE)(on_amount)
router.callback("tr:ok:")(confirm)
router.callback("tr:no:")(cancel)
router.command("transfers")(history)
