"""The checks every gated update passes before its handler, as middlewares of the root router (in
this order): edited messages dropped, private chats only, callback auto-answer, button signatures, moderation (ban, freeze,
maintenance), then `limits.rate_limit`, then access (admin rights, registration, the captcha).

What the later steps need from Redis (the spam freeze, the command count, the captcha's lock-out) is
read in one round trip right after the ban check (`read_standing`).

Order matters: a banned user learns nothing else; admins bypass maintenance and the captcha; a
non-admin running an admin command is refused whatever the arguments. Refusal notices are
throttled so a flood of updates cannot make the bot flood back. Which registrations are gated and
how is said by their flags (handlers.flags).
"""
from __future__ import annotations

import time

from loguru import logger

from botrunner.bot.callback_data import PAYLOAD
from botrunner.bot.context import Context
from botrunner.bot.router import CallNext
from handlers import limits, refusals
from handlers.flags import gated
from handlers.runtime import USER_KEY, runtime
from handlers.ui import tell

MAX_TEXT = 4096
USER = USER_KEY             # ctx.data key: the user record the gate looked up


def ignore_edits(ctx: Context, call_next: CallNext) -> None:
    """An edited message never runs anything (an admin who edits `/award @bob 100` into 1000 must not
    pay 1,100; a user who edits an answer must not repeat a step): dropped, whatever it matches."""
    if ctx.edited:
        return
    call_next(ctx)


def message_key(ctx: Context) -> str:
    """What a keyed action (an /award) is keyed by: the chat and message, not the update, so one
    message acts once however often Telegram delivers it or its edits."""
    message_id = ctx.message_id
    return f"{ctx.chat_id}:{message_id}" if message_id is not None else f"update:{ctx.update_id}"


def private_only(ctx: Context, call_next: CallNext) -> None:
    """The bot serves users in private chats only; anything else is dropped silently."""
    if gated(ctx) and (ctx.user_id is None or not _private(ctx)):
        return
    call_next(ctx)


def answer_callbacks(ctx: Context, call_next: CallNext) -> None:
    """Every gated button press gets an answerCallbackQuery (first), unless something answered it."""
    call_next(ctx)
    query_id = ctx.callback_query_id
    if gated(ctx) and query_id is not None and not _answered(ctx):
        ctx.outbox.insert(0, ("answerCallbackQuery", {"callback_query_id": query_id}))


def verify_buttons(ctx: Context, call_next: CallNext) -> None:
    """Callback data must be signed for this user; the verified payload goes to ctx.data[PAYLOAD]."""
    if gated(ctx) and ctx.callback_data is not None:
        payload = runtime(ctx).signer.verify(ctx.user_id, ctx.callback_data)
        if payload is None:
            logger.info("User {} sent callback data that is not theirs or not ours: {!r}", ctx.user_id,
                        ctx.callback_data[:80])
            ctx.answer(runtime(ctx).t(ctx, "button_invalid"), show_alert=True)
            return
        ctx.data[PAYLOAD] = payload
    call_next(ctx)


def moderation(ctx: Context, call_next: CallNext) -> None:
    """Banned users, spam-frozen users and (for non-admins) maintenance are refused with a notice."""
    if not gated(ctx):
        call_next(ctx)
        return
    rt = runtime(ctx)
    is_admin = rt.is_admin(ctx.user_id)
    user = ctx.data[USER] = rt.users.get(ctx.user_id)
    if user is not None:
        refresh_profile(ctx, user)
    if user is not None and user.is_banned():
        if limits.once(ctx, "ban-notice", 60):
            refusals.note(rt, "banned", ctx.user_id, user.ban_reason)
            until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(user.banned_until)) if user.banned_until else "-"
            tell(ctx, rt.t(ctx, "banned", reason=user.ban_reason or "-", until=until))
        return
    if not is_admin:
        read_standing(ctx, user)
    if not is_admin and limits.frozen_for(ctx):
        if limits.once(ctx, "freeze-notice", 60):
            tell(ctx, rt.t(ctx, "spam_frozen", minutes=max(1, limits.frozen_for(ctx) // 60)))
        return
    if not is_admin and rt.switch("maintenance"):
        if limits.once(ctx, "maintenance-notice", 30):
            tell(ctx, rt.switch("maintenance_message") or rt.t(ctx, "maintenance"))
        return
    call_next(ctx)


def read_standing(ctx: Context, user) -> None:
    """A non-admin's standing in Redis for this update, in one round trip: the spam freeze, the command
    count (unless maintenance refuses the update anyway; a freeze refusal counts), and, while the image
    captcha is pending, its lock-out and wrong answers (what /start's challenge reads)."""
    rt = runtime(ctx)
    pipe = rt.redis.pipeline(transaction=False)
    takes = [limits.queue_standing(ctx, pipe, count=not rt.switch("maintenance"))]
    if rt.switch("captcha_enabled") and (user is None or not user.captcha_passed):
        takes.append(rt.captcha.queue_reads(ctx, pipe))
    answers = iter(pipe.execute())
    for take in takes:
        take(answers)


def access(ctx: Context, call_next: CallNext) -> None:
    """Admin registrations need an admin; the rest (unless OPEN) a registered user past the captcha."""
    if not gated(ctx):
        call_next(ctx)
        return
    rt = runtime(ctx)
    uid = ctx.user_id
    is_admin = rt.is_admin(uid)
    if ctx.flags.get("admin") and not is_admin:
        logger.info("User {} tried an admin action: {!r}", uid, (ctx.text or ctx.callback_data or "")[:80])
        refusals.note(rt, "admin_only", uid, ctx.route)
        tell(ctx, rt.t(ctx, "not_admin"))
        return
    if ctx.flags.get("open") or ctx.flags.get("admin"):
        call_next(ctx)                            # admin commands need no registration or captcha
        return
    user = ctx.data[USER] if USER in ctx.data else rt.users.get(uid)
    if user is None:
        tell(ctx, rt.t(ctx, "start_first"))
        return
    if user.blocked_bot:
        rt.store.users.set_blocked_bot(uid, False)   # writing to us again means they unblocked the bot
    if needs_captcha(ctx, user) and not is_admin:
        tell(ctx, rt.t(ctx, "captcha_required"))
        return
    if rt.batcher is not None:
        rt.batcher.touch(uid)
    call_next(ctx)


#: the gate, outermost first, as handlers.app installs it
MIDDLEWARES = (ignore_edits, private_only, answer_callbacks, verify_buttons, moderation, limits.rate_limit, access)


def refresh_profile(ctx: Context, user) -> None:
    """Keep username, names and premium as Telegram shows them now (on every update, not just /start):
    @username lookups then find the current holder. Writes only when something changed."""
    tg = ctx.effective_user
    if tg is None:
        return
    seen = (tg.username or "", tg.first_name or "", tg.last_name or "", bool(tg.is_premium))
    if seen != (user.username, user.first_name, user.last_name, user.is_premium):
        # the stored language is the user's choice: keep it
        runtime(ctx).store.users.update_profile(user.id, *seen[:3], user.language_code, seen[3])


def needs_captcha(ctx: Context, user) -> bool:
    """New and flagged users have captcha_passed False until they solve one (the Mini App slider
    when it is on, the image captcha when CAPTCHA_ENABLED, or both in that order)."""
    rt = runtime(ctx)
    return (bool(rt.switch("captcha_enabled")) or rt.settings.miniapp_on) and not user.captcha_passed


def _private(ctx: Context) -> bool:
    chat = ctx.effective_chat
    return chat is None or chat.type == "private"


def _answered(ctx: Context) -> bool:
    return any(method == "answerCallbackQuery" for method, _ in ctx.outbox)


def clean_text(ctx: Context, limit: int = MAX_TEXT) -> str:
    """The message text, stripped of control characters and cut to `limit` characters."""
    raw = (ctx.text or "")[:limit * 2]
    return "".join(ch for ch in raw if ch.isprintable() or ch in "\n ").strip()[:limit]
