"""The Mini App step of the captcha gate: the web_app prompt, the verification event, the device
rules, and /cleardevice for admins.

A new user's /start gets a web_app button (MINIAPP_URL, handlers.miniapp_prompt); the page's
verification reaches this bot as a `miniapp.verified` event on the user's lane (see
botrunner.bot.events), so it is handled once, in order with the user's messages. The handler
applies the one-device-one-account rules (botrunner.miniapp.fingerprint.apply_rules), deletes
the prompt, and continues with the image captcha (CAPTCHA_ENABLED) or the welcome, which pays the
referral bonus (exactly once: referrals.pay_bonus). users.captcha_state says where a user is:
MINIAPP_DONE (slider passed, image captcha pending) or DEVICE_TAKEN (refused: another account
holds the device; /start repeats the notice, and verifying again passes once an admin ran
/cleardevice for the device's holder).
"""
from __future__ import annotations

from loguru import logger

from botrunner.bot.context import Context
from botrunner.bot.events import event, event_data
from botrunner.bot.router import Router
from botrunner.miniapp.fingerprint import apply_rules
from botrunner.miniapp.http import EVENT
from handlers import refusals
from handlers.flags import ADMIN, UNGATED
from handlers.miniapp_prompt import DEVICE_TAKEN, MINIAPP_DONE
from handlers.runtime import runtime
from handlers.start import welcome_verified

LOCK_TTL_S = 10
LOCK_WAIT_S = 10
router = Router("miniapp")


def on_verified(ctx: Context) -> None:
    """A solved slider: device rules, prompt deleted, then the image captcha or the welcome."""
    rt = runtime(ctx)
    uid = ctx.user_id
    data = event_data(ctx)
    if uid is None:
        return
    user = rt.users.get(uid)
    if user is None:           # opened from the bot's profile before any /start: register from initData
        tg = data.get("user") if isinstance(data.get("user"), dict) else {}
        user, _ = rt.store.users.register(
            uid, username=str(tg.get("username", "")), first_name=str(tg.get("first_name", "")),
            last_name=str(tg.get("last_name", "")), language_code=rt.texts.pick(str(tg.get("language_code", ""))),
            is_premium=False)
    if user.is_banned():
        logger.info("Mini App verification of banned user {} ignored", uid)
        return
    if data.get("prompt_message_id"):
        ctx.call("deleteMessage", chat_id=uid, message_id=int(data["prompt_message_id"]))
    s = rt.settings
    verdict = apply_rules(rt.store.fingerprints, uid, str(data.get("device", "")), str(data.get("ip", "")),
                          ttl_s=s.fingerprint_ttl_days * 86400, replace=s.miniapp_device_change_allowed,
                          serialize=lambda device: device_lock(rt, device))
    if user.captcha_passed:
        return                                        # a verified user on a (new) device: recorded, nothing else
    if not verdict.allowed and s.miniapp_device_collision != "off":
        logger.warning("Mini App: user {} verified on a device held by user {} ({})", uid, verdict.owner,
                       s.miniapp_device_collision)
        if s.miniapp_device_collision == "block":
            refusals.note(rt, "device_taken", uid, f"held by {verdict.owner}")
            rt.store.users.set_captcha(uid, False, DEVICE_TAKEN)
            ctx.reply(rt.t(ctx, "miniapp_device_taken"))
            return
        notice = rt.texts.get(rt.texts.pick(""), "miniapp_device_flagged", id=uid, owner=verdict.owner)
        for chat in [s.admin_chat_id] if s.admin_chat_id else s.admin_user_ids:     # the admin chat, else each admin
            ctx.send(chat, notice)
    if rt.switch("captcha_enabled"):
        rt.store.users.set_captcha(uid, False, MINIAPP_DONE)
        rt.captcha.challenge(ctx)
        return
    rt.store.users.set_captcha(uid, True, MINIAPP_DONE)
    welcome_verified(ctx)


def device_lock(rt, device: str):
    """One verification of a device at a time across every worker (redis-py's Lock: a token, a TTL,
    released only by its owner). Waiting longer than LOCK_WAIT_S raises, and the event is retried."""
    return rt.redis.lock(rt.key("device-lock", device), timeout=LOCK_TTL_S, blocking_timeout=LOCK_WAIT_S)


def clear_device(ctx: Context) -> None:
    """/cleardevice <user id>: forget that user's devices (another account may then use them) and
    lift a DEVICE_TAKEN refusal of that user (their /start shows the Mini App again)."""
    rt = runtime(ctx)
    word = ctx.args[0] if ctx.args else ""
    user = rt.store.users.get(int(word)) if word.isdigit() and len(word) < 20 else None
    if user is None:
        ctx.reply(rt.t(ctx, "usage", usage="/cleardevice <user id>"))
        return
    forgotten = rt.store.fingerprints.forget(user.id)
    if user.captcha_state == DEVICE_TAKEN:
        rt.store.users.set_captcha(user.id, False, "")
    logger.info("Admin {} cleared {} device(s) of user {}", ctx.user_id, forgotten, user.id)
    ctx.reply(rt.t(ctx, "miniapp_device_cleared", id=user.id, count=forgotten))


router.update(event(EVENT), flags=UNGATED)(on_verified)
router.command("cleardevice", flags=ADMIN)(clear_device)
