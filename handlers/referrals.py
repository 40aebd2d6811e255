"""Referrals: attribution from /start payloads, the once-only bonus, /referrals, custom codes, late codes.

A payload is `ref_<code>`, a bare code, or a numeric user id (refused once the referrer locked a
custom code). The repository refuses self-referral, re-attribution and loops; the bonus is paid
by `credit_bonus`, exactly once per referred user, after the captcha.
"""
from __future__ import annotations

import re
import threading
import time

from loguru import logger

from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import limits, numbers
from handlers.flags import SENSITIVE
from handlers.gate import clean_text
from handlers.runtime import runtime
from handlers.ui import button, keyboard, link, respond

TIERS = ((100, "Diamond"), (50, "Platinum"), (20, "Gold"), (10, "Silver"), (5, "Bronze"))
WEEK_S = 7 * 86400
CODE_STATE = "refcode"
APPLY_STATE = "refapply"
router = Router("referrals")


def find_referrer(ctx: Context, payload: str):
    """The user a payload points at, or None."""
    rt = runtime(ctx)
    code = payload[4:] if payload.lower().startswith("ref_") else payload
    if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", code or ""):
        return None
    found = rt.store.users.find_by_referral_code(code) or rt.store.users.find_by_referral_code(code.upper())
    uid = numbers.telegram_id(code) if found is None else None
    if uid is not None:
        found = rt.store.users.get(uid)
        if found is not None and found.referral_code_locked:
            return None                    # a custom code replaced the numeric link
    return found


def attribute(ctx: Context, payload: str) -> bool:
    """Record who referred this user (no points yet); False when refused."""
    rt = runtime(ctx)
    referrer = find_referrer(ctx, payload)
    if referrer is None or referrer.id == ctx.user_id:
        return False
    recorded = rt.store.referrals.record(referrer.id, ctx.user_id)
    if recorded:
        logger.info("Referral: {} joined through {}", ctx.user_id, referrer.id)
    return recorded


def pay_bonus(ctx: Context, referred_id: int) -> bool:
    """Pay both sides exactly once (through the write batcher) and tell them; False if nothing was due."""
    rt = runtime(ctx)
    referral = rt.store.referrals.get(referred_id)
    if referral is None or referral.bonus_credited:
        return False
    s = rt.settings
    bonus = int(rt.switch("referral_bonus"))
    welcome = s.referral_welcome_bonus if s.referral_welcome_bonus_enabled else 0
    paid = _credit(rt, referred_id, bonus, welcome)
    if paid:
        referrer = rt.store.users.get(referral.referrer_id)
        tg = ctx.effective_user            # None for a bot event (a Mini App verification)
        stored = rt.users.get(referred_id)
        name = (tg.first_name if tg else stored.first_name if stored else "") or str(referred_id)
        lang = rt.texts.pick(referrer.language_code if referrer else "")
        ctx.send(referral.referrer_id, rt.texts.get(lang, "referral_new", name=name, bonus=bonus))
        if welcome:
            ctx.reply(rt.t(ctx, "referral_welcome", bonus=welcome))
    return paid


def _credit(rt, referred_id: int, bonus: int, welcome: int) -> bool:
    if rt.batcher is None:
        return rt.store.referrals.credit_bonus(referred_id, bonus, welcome)
    result: dict[str, bool] = {}
    done = threading.Event()

    def on_paid(paid: bool) -> None:
        result["paid"] = paid
        done.set()
    rt.batcher.credit_referral(referred_id, bonus, welcome, on_paid)
    rt.batcher.flush()                      # one bulk write with whatever else is queued
    done.wait(10)
    return result.get("paid", False)


def tier(count: int) -> str:
    return next((name for threshold, name in TIERS if count >= threshold), "-")


def show(ctx: Context) -> None:
    """Link, totals, active in the last 7 days, tier; buttons for a custom code or a late code."""
    rt = runtime(ctx)
    user = rt.store.users.get(ctx.user_id)
    total = user.referral_count          # verified referrals: the same number as the menu and the tasks
    active = rt.store.referrals.count_active_since(user.id, time.time() - WEEK_S)
    nxt = next((t for t, _ in reversed(TIERS) if t > total), None)
    text = rt.t(ctx, "referrals", link=link(ctx, user), total=total, active=active, tier=tier(total),
                next=nxt or "-", bonus=rt.switch("referral_bonus"))
    rows = []
    if not user.referral_code_locked:
        rows.append([button(ctx, rt.t(ctx, "btn_custom_code"), "ref:code")])
    if user.referred_by is None:
        rows.append([button(ctx, rt.t(ctx, "btn_apply_code"), "ref:apply")])
    rows.append([button(ctx, rt.t(ctx, "btn_back"), "m:menu")])
    respond(ctx, text, keyboard(*rows))


def ask_custom_code(ctx: Context) -> None:
    rt = runtime(ctx)
    ctx.set_state(CODE_STATE)
    ctx.reply(rt.t(ctx, "refcode_ask", max=rt.settings.referral_code_length))


def on_custom_code(ctx: Context) -> None:
    """One-time custom code, 1 attempt per hour; afterwards the numeric link no longer works."""
    rt = runtime(ctx)
    ctx.clear_state()
    code = clean_text(ctx, 64).upper()
    if not re.fullmatch(rf"[A-Z0-9_]{{4,{rt.settings.referral_code_length}}}", code) or code.isdigit():
        ctx.reply(rt.t(ctx, "refcode_invalid", max=rt.settings.referral_code_length))
        return
    if not limits.allow(ctx, "referral_code", notify=False):
        ctx.reply(rt.t(ctx, "refcode_rate"))
        return
    from storage.records import DuplicateError
    try:
        changed = rt.store.users.set_referral_code(ctx.user_id, code)
    except DuplicateError:
        ctx.reply(rt.t(ctx, "refcode_taken"))
        return
    user = rt.store.users.get(ctx.user_id)
    ctx.reply(rt.t(ctx, "refcode_set", link=link(ctx, user)) if changed else rt.t(ctx, "refcode_locked"))


def ask_apply(ctx: Context) -> None:
    rt = runtime(ctx)
    user = rt.store.users.get(ctx.user_id)
    if user.referred_by is not None:
        ctx.reply(rt.t(ctx, "apply_already"))
        return
    if ctx.args:
        apply_code(ctx, ctx.args[0][:64])
        return
    ctx.set_state(APPLY_STATE)
    ctx.reply(rt.t(ctx, "apply_ask"))


def on_apply(ctx: Context) -> None:
    ctx.clear_state()
    apply_code(ctx, clean_text(ctx, 64))


def late_code_refusal(ctx: Context, user) -> str | None:
    """A late code pays both sides, so only a new account may use one: younger than
    REFERRAL_LATE_CODE_WINDOW_S and before its first withdrawal (else an old account could farm
    bonuses by "joining" through a friend's code). The text key of the refusal, or None."""
    rt = runtime(ctx)
    if time.time() - user.registered_at > rt.settings.referral_late_code_window_s:
        return "apply_too_late"
    if rt.store.points.withdrawals_for(user.id, 1):
        return "apply_after_withdrawal"
    return None


def apply_code(ctx: Context, code: str) -> None:
    """A code entered after joining: allowed once, never one's own, only for new accounts
    (`late_code_refusal`); the bonus follows at once."""
    rt = runtime(ctx)
    refusal = late_code_refusal(ctx, rt.store.users.get(ctx.user_id))
    if refusal:
        window = rt.settings.referral_late_code_window_s
        ctx.reply(rt.t(ctx, refusal, window=f"{window // 3600} h" if window >= 3600 else f"{max(1, window // 60)} min"))
        return
    referrer = find_referrer(ctx, code)
    if referrer is None:
        ctx.reply(rt.t(ctx, "apply_unknown"))
        return
    if referrer.id == ctx.user_id:
        ctx.reply(rt.t(ctx, "apply_own"))
        return
    if not attribute(ctx, code):
        ctx.reply(rt.t(ctx, "apply_refused"))
        return
    ctx.reply(rt.t(ctx, "apply_done", name=referrer.first_name or referrer.id))
    pay_bonus(ctx, ctx.user_id)


router.command("referrals", "ref")(show)
router.callback("m:refs")(show)
router.callback("ref:code", flags=SENSITIVE)(ask_custom_code)
router.state(CODE_STATE)(on_custom_code)
router.command("code")(ask_apply)
router.callback("ref:apply")(ask_apply)
router.state(APPLY_STATE)(on_apply)
