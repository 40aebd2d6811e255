"""Withdraw: the whole balance to the user's wallet, after a confirmation that expires.

Checks: a wallet, MIN_WITHDRAW_POINTS, and (WITHDRAW_REQUIRE_CHANNEL_JOIN) membership of
REQUIRED_CHANNEL_ID, asked again at confirmation. The confirm button is a one-time token, and
`create_withdrawal` debits and creates the pending withdrawal in one atomic step, so a double
click or a balance spent meanwhile cannot overdraw. The withdrawal is keyed by the token, which is
consumed only after it: a redelivered confirmation finishes it exactly once. Admins mark it paid
or failed (refunded); with WITHDRAW_MODE=claim the bot instead signs an on-chain claim
(handlers.claims) and the withdrawal is settled as issued.
"""
from __future__ import annotations

from dataclasses import dataclass

from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import callbacks, claims
from handlers.flags import SENSITIVE
from handlers.runtime import runtime
from handlers.ui import button, keyboard, respond
from storage.records import keyed_id

router = Router("withdraw")


@dataclass
class WithdrawButton(CallbackData, prefix="wd"):
    """`wd:ok:<token>` confirms the offered withdrawal, `wd:no:<token>` cancels it."""
    choice: str = ""
    token: str = ""


def start(ctx: Context) -> None:
    rt = runtime(ctx)
    user = rt.store.users.get(ctx.user_id)
    problem = _problem(ctx, user, user.points)
    if problem:
        respond(ctx, problem, keyboard([button(ctx, rt.t(ctx, "btn_back"), "m:menu")]))
        return
    s = rt.settings
    token = callbacks.offer(ctx, "withdraw", {"amount": user.points, "address": user.wallet_address},
                            s.withdraw_confirm_timeout_s)
    text = rt.t(ctx, "withdraw_confirm", amount=user.points, address=user.wallet_address,
                tokens=f"{user.points * s.points_to_token_conversion_rate:g}", symbol=s.token_symbol,
                minutes=max(1, s.withdraw_confirm_timeout_s // 60))
    respond(ctx, text, keyboard([button(ctx, rt.t(ctx, "btn_confirm"), WithdrawButton("ok", token)),
                                 button(ctx, rt.t(ctx, "btn_cancel"), WithdrawButton("no", token))]))


def _problem(ctx: Context, user, amount: int) -> str | None:
    rt = runtime(ctx)
    minimum = int(rt.switch("min_withdraw_points"))
    if not user.wallet_address:
        return rt.t(ctx, "withdraw_no_wallet")
    if amount < minimum:
        return rt.t(ctx, "withdraw_min", minimum=minimum, points=user.points)
    if rt.settings.withdraw_require_channel_join:
        member = rt.api.is_member(rt.settings.required_channel_id, ctx.user_id)
        if not member:
            return rt.t(ctx, "task_check_later" if member is None else "withdraw_join",
                        target=rt.settings.required_channel_id)
    return None


def confirm(ctx: Context) -> None:
    """Claim the token, debit keyed by it, then consume it (see the module docstring)."""
    rt = runtime(ctx)
    pressed = WithdrawButton.of(ctx)
    claimed = callbacks.claim_confirmation(ctx, "withdraw", pressed.token if pressed else "")
    if claimed is None:
        return
    token, offered = claimed
    key = f"withdraw:{token}"
    withdrawal = rt.store.points.get_withdrawal(keyed_id(key))   # found: a redelivery after the debit
    problem = None
    if withdrawal is None and not offered:                        # consumed by this update, nothing moved
        ctx.answer(rt.t(ctx, "action_expired"), show_alert=True)
        return
    if withdrawal is None:
        user = rt.store.users.get(ctx.user_id)
        problem = _problem(ctx, user, offered["amount"])
        if problem is None and user.wallet_address != offered["address"]:
            problem = rt.t(ctx, "withdraw_wallet_changed")
        withdrawal = None if problem else rt.store.points.create_withdrawal(
            ctx.user_id, offered["amount"], offered["address"], key=key)
        problem = problem or (None if withdrawal else rt.t(ctx, "insufficient"))
    callbacks.consume(ctx, token)
    if problem:
        ctx.answer()
        respond(ctx, problem)
        return
    ctx.answer(rt.t(ctx, "withdraw_done_short"))
    if rt.settings.withdraw_mode == "claim":
        respond(ctx, _claim_text(ctx, withdrawal))
    else:
        respond(ctx, rt.t(ctx, "withdraw_done", amount=withdrawal.amount, address=withdrawal.address,
                          id=withdrawal.id))
    if rt.settings.withdraw_alert_channel_id:
        ctx.send(rt.settings.withdraw_alert_channel_id,
                 rt.texts.get("en", "withdraw_alert", user=ctx.user_id, amount=withdrawal.amount,
                              address=withdrawal.address, id=withdrawal.id))


def _claim_text(ctx: Context, withdrawal) -> str:
    """WITHDRAW_MODE=claim: sign the claim (nonce reserved per withdrawal, so a redelivery signs the
    same one), settle the withdrawal as issued, and give the user what to pass to the contract."""
    rt = runtime(ctx)
    s = rt.settings
    nonce = rt.store.claims.reserve(withdrawal.id, withdrawal.user_id)
    claim = claims.sign_claim(s.claim_signer_private_key, withdrawal.address,
                              claims.amount_wei(withdrawal.amount, s.points_to_token_conversion_rate,
                                                s.token_decimals), nonce)
    rt.store.points.mark_withdrawal_paid(withdrawal.id, f"claim:{nonce}")
    return rt.t(ctx, "withdraw_claim", id=withdrawal.id, amount=withdrawal.amount, contract=s.claim_contract_address,
                function=claims.CLAIM_FUNCTION, wei=claim.amount_wei, nonce=claim.nonce,
                signature=claim.signature, address=claim.address)


def cancel(ctx: Context) -> None:
    rt = runtime(ctx)
    pressed = WithdrawButton.of(ctx)
    callbacks.drop(ctx, pressed.token if pressed else "")
    ctx.answer()
    respond(ctx, rt.t(ctx, "cancelled"))


router.command("withdraw", flags=SENSITIVE)(start)
router.callback("m:wd", flags=SENSITIVE)(start)
router.callback("wd:ok:")(confirm)
router.callback("wd:no:")(cancel)
