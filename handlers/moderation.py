"""Moderation: bans with reason, expiry and a notice; "blocked the bot" kept apart from bans; the
maintenance switch; runtime settings; unknown text with the spam freeze; /cancel."""
from __future__ import annotations

import re
import time

from loguru import logger

from botrunner.bot.context import Context
from botrunner.bot.filters import content
from botrunner.bot.router import Router
from handlers import ban_ends, limits, numbers
from handlers.flags import ADMIN, OPEN, UNGATED
from handlers.runtime import SWITCHES, runtime

DURATION = re.compile(r"([0-9]{1,6})([mhdw])")
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
router = Router("moderation")


def parse_duration(word: str) -> int | None:
    """'30m', '12h', '7d', '2w' -> seconds; None when `word` is not a duration."""
    match = DURATION.fullmatch(word.lower())
    return int(match.group(1)) * UNITS[match.group(2)] if match else None


def target_user(ctx: Context, word: str):
    """A user by numeric id or @username (admin commands)."""
    users = runtime(ctx).store.users
    uid = numbers.telegram_id(word)
    if uid is not None:
        return users.get(uid)
    return users.find_by_username(word) if word.startswith("@") and len(word) <= 33 else None


def user_from_args(ctx: Context, usage: str):
    """The user named by the command's first word, or None after replying with `usage`."""
    user = target_user(ctx, ctx.args[0]) if ctx.args else None
    if user is None:
        ctx.reply(runtime(ctx).t(ctx, "usage", usage=usage))
    return user


def ban(ctx: Context) -> None:
    """/ban <id|@user> [30m|12h|7d|2w] [reason...]"""
    rt = runtime(ctx)
    args = ctx.args
    user = user_from_args(ctx, "/ban <id|@user> [30m|12h|7d] [reason]")
    if user is None:
        return
    if rt.is_admin(user.id):
        ctx.reply(rt.t(ctx, "ban_admin"))
        return
    seconds = parse_duration(args[1]) if len(args) > 1 else None
    if seconds == 0:                       # "0m" is no duration at all, not "forever"
        ctx.reply(rt.t(ctx, "usage", usage="/ban <id|@user> [30m|12h|7d] [reason] (a duration of at least 1)"))
        return
    reason = " ".join(args[2 if seconds else 1:])[:200] or "-"
    until = time.time() + seconds if seconds else None
    rt.store.users.ban(user.id, reason, until)
    ban_ends.schedule_end(rt, user.id, until)
    logger.info("Admin {} banned {} ({}, until {})", ctx.user_id, user.id, reason, until)
    shown = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until)) if until else "-"
    ctx.reply(rt.t(ctx, "ban_done", id=user.id, reason=reason, until=shown))
    ctx.send(user.id, rt.texts.get(rt.texts.pick(user.language_code), "banned", reason=reason, until=shown))


def unban(ctx: Context) -> None:
    rt = runtime(ctx)
    user = user_from_args(ctx, "/unban <id|@user>")
    if user is None:
        return
    rt.store.users.unban(user.id)
    ban_ends.forget(rt, user.id)
    limits.unfreeze(ctx, user.id)
    ctx.reply(rt.t(ctx, "unban_done", id=user.id))
    ctx.send(user.id, rt.texts.get(rt.texts.pick(user.language_code), "unbanned"))


def maintenance(ctx: Context) -> None:
    """/maintenance on [message...] | off"""
    rt = runtime(ctx)
    word = ctx.args[0].lower() if ctx.args else ""
    if word not in ("on", "off"):
        ctx.reply(rt.t(ctx, "usage", usage="/maintenance on [message] | off"))
        return
    rt.set_switch("maintenance", word == "on")
    rt.set_switch("maintenance_message", " ".join(ctx.args[1:])[:500] if word == "on" else "")
    ctx.reply(rt.t(ctx, "maintenance_" + word))


def setting(ctx: Context) -> None:
    """/setting [name value]: runtime switches persisted in storage (list them without arguments)."""
    rt = runtime(ctx)
    if len(ctx.args) < 2 or ctx.args[0] not in SWITCHES:
        current = "\n".join(f"{name} = {rt.switch(name)!r}" for name in SWITCHES)
        ctx.reply(rt.t(ctx, "settings_list", lines=current))
        return
    name, raw = ctx.args[0], " ".join(ctx.args[1:])[:500]
    default = rt.switch(name)
    try:
        value = _coerce(raw, default)
    except ValueError:
        ctx.reply(rt.t(ctx, "setting_bad", name=name))
        return
    rt.set_switch(name, value)
    ctx.reply(rt.t(ctx, "setting_done", name=name, value=value))


def _coerce(raw: str, like):
    if isinstance(like, bool):
        if raw.lower() in ("on", "true", "1", "yes"):
            return True
        if raw.lower() in ("off", "false", "0", "no"):
            return False
        raise ValueError(raw)
    if isinstance(like, int):
        value = numbers.whole(raw)
        if value is None:
            raise ValueError(raw)
        return value
    return raw


def flag(ctx: Context) -> None:
    """/flag <id>: the user must pass the captcha again."""
    rt = runtime(ctx)
    user = user_from_args(ctx, "/flag <id|@user>")
    if user is None:
        return
    rt.store.users.set_captcha(user.id, False, "flagged")
    ctx.reply(rt.t(ctx, "flag_done", id=user.id))


def cancel(ctx: Context) -> None:
    ctx.clear_state()
    ctx.reply(runtime(ctx).t(ctx, "cancelled"))


def unknown_text(ctx: Context) -> None:
    """Text outside any conversation: a hint at most every 5 minutes; floods warn, then freeze."""
    rt = runtime(ctx)
    verdict = limits.count_spam(ctx) if not rt.is_admin(ctx.user_id) else "ok"
    if verdict == "freeze":
        ctx.reply(rt.t(ctx, "spam_frozen", minutes=rt.settings.spam_freeze_minutes))
    elif verdict == "warn":
        ctx.reply(rt.t(ctx, "spam_warning"))
    elif limits.once(ctx, "hint", max(1, rt.settings.spam_warning_cooldown_ms // 1000)):
        ctx.reply(rt.t(ctx, "unknown_hint"))


def membership(ctx: Context) -> None:
    """my_chat_member in the private chat: "kicked" means the user blocked the bot (not a ban)."""
    change = ctx.update.my_chat_member
    if change is None or change.chat.type != "private":
        return
    rt = runtime(ctx)
    if rt.store.users.get(change.from_user.id) is not None:
        rt.store.users.set_blocked_bot(change.from_user.id, change.new_chat_member.status == "kicked")


router.command("cancel", flags=OPEN)(cancel)
router.text(flags=OPEN)(unknown_text)
router.update(content("my_chat_member"), flags=UNGATED)(membership)
for _names, _handler in ((("ban",), ban), (("unban",), unban), (("maintenance",), maintenance),
                         (("setting", "settings"), setting), (("flag",), flag)):
    router.command(*_names, flags=ADMIN)(_handler)
