"""The checks every update passes before its handler: signature, ban, freeze, maintenance, rate limit,
admin rights, registration and the captcha. Handlers are registered wrapped with `guard`.

Order matters: a banned user learns nothing else; admins bypass maintenance and the captcha; a
non-admin running an admin command is refused whatever the arguments. Refusal notices are
throttled so a flood of updates cannot make the bot flood back.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable

from loguru import logger

from botrunner.bot.context import Context
from handlers import limits
from handlers.runtime import runtime

Handler = Callable[[Context], None]
MAX_TEXT = 4096


def guard(handler: Handler, open_: bool = False, admin: bool = False, sensitive: bool = False) -> Handler:
    """Wrap a handler with the gate. open_: runs before registration and the captcha (/start, /help);
    sensitive: also counts against RATE_LIMIT_SENSITIVE_PER_HOUR (money, wallet, proofs)."""
    @functools.wraps(handler)
    def run(ctx: Context) -> None:
        if ctx.user_id is None or not _private(ctx):
            return                                # the bot serves private chats only
        if ctx.callback_data is not None and not _verify_button(ctx):
            return
        if _refused(ctx, open_, admin, sensitive):
            if ctx.callback_data is not None and not _answered(ctx):
                ctx.answer()
            return
        handler(ctx)
        if ctx.callback_data is not None and not _answered(ctx):
            ctx.outbox.insert(0, ("answerCallbackQuery", {"callback_query_id": ctx.update.callback_query.id}))
    run.open_ = open_
    run.admin = admin
    return run


def _refused(ctx: Context, open_: bool, admin: bool, sensitive: bool) -> bool:
    rt = runtime(ctx)
    uid = ctx.user_id
    is_admin = rt.is_admin(uid)
    user = rt.users.get(uid)
    if user is not None and user.is_banned():
        if limits.once(ctx, "ban-notice", 60):
            until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(user.banned_until)) if user.banned_until else "-"
            tell(ctx, rt.t(ctx, "banned", reason=user.ban_reason or "-", until=until))
        return True
    if not is_admin and limits.frozen_for(ctx):
        if limits.once(ctx, "freeze-notice", 60):
            tell(ctx, rt.t(ctx, "spam_frozen", minutes=max(1, limits.frozen_for(ctx) // 60)))
        return True
    if not is_admin and rt.switch("maintenance"):
        if limits.once(ctx, "maintenance-notice", 30):
            tell(ctx, rt.switch("maintenance_message") or rt.t(ctx, "maintenance"))
        return True
    if not limits.hit(ctx, "cmd", rt.settings.rate_limit_commands_per_min, rt.settings.rate_limit_window_s) or (
            sensitive and not limits.hit(ctx, "sensitive", rt.settings.rate_limit_sensitive_per_hour, 3600)):
        if limits.once(ctx, "rate-notice", 30):
            tell(ctx, rt.t(ctx, "rate_limited"))
        return True
    if admin and not is_admin:
        logger.info("User {} tried an admin action: {!r}", uid, (ctx.text or ctx.callback_data or "")[:80])
        tell(ctx, rt.t(ctx, "not_admin"))
        return True
    if open_ or admin:
        return False                              # admin commands need no registration or captcha
    if user is None:
        tell(ctx, rt.t(ctx, "start_first"))
        return True
    if user.blocked_bot:
        rt.store.users.set_blocked_bot(uid, False)   # writing to us again means they unblocked the bot
    if needs_captcha(ctx, user) and not is_admin:
        tell(ctx, rt.t(ctx, "captcha_required"))
        return True
    if rt.batcher is not None:
        rt.batcher.touch(uid)
    return False


def needs_captcha(ctx: Context, user) -> bool:
    """New and flagged users have captcha_passed False until they solve one."""
    return bool(runtime(ctx).switch("captcha_enabled")) and not user.captcha_passed


def tell(ctx: Context, text: str) -> None:
    """A notice: an alert on the button for callbacks, a message otherwise."""
    if ctx.callback_data is not None:
        ctx.answer(text[:200], show_alert=True)
    else:
        ctx.reply(text)


def _verify_button(ctx: Context) -> bool:
    payload = runtime(ctx).signer.verify(ctx.user_id, ctx.callback_data)
    if payload is None:
        logger.info("User {} sent callback data that is not theirs or not ours: {!r}", ctx.user_id,
                    ctx.callback_data[:80])
        ctx.answer(runtime(ctx).t(ctx, "button_invalid"), show_alert=True)
        return False
    ctx.payload = payload
    return True


def _private(ctx: Context) -> bool:
    chat = ctx.update.effective_chat
    return chat is None or chat.type == "private"


def _answered(ctx: Context) -> bool:
    return any(method == "answerCallbackQuery" for method, _ in ctx.outbox)


def clean_text(ctx: Context, limit: int = MAX_TEXT) -> str:
    """The message text, stripped of control characters and cut to `limit` characters."""
    raw = (ctx.text or "")[:limit * 2]
    return "".join(ch for ch in raw if ch.isprintable() or ch in "\n ").strip()[:limit]
