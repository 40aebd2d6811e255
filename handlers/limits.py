"""Per-user rate limits (and the `rate_limit` middleware of the gate), the spam freeze, short locks
and one-shot notices, all in Redis.

Fixed windows (INCR + EXPIRE) are enough here: the limits protect the bot and the ledger from
floods and scripts, not exact quotas. Every key carries a TTL, so nothing accumulates (the window's
number is in the counter's key, so a counter whose EXPIRE were lost is never counted again).

For a non-admin's gated update the gate reads the spam freeze and counts the command in its one
round trip (`queue_standing`, see handlers.gate); `frozen_for` and `rate_limit` use what it read.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botrunner.bot.context import Context
from botrunner.bot.router import CallNext
from handlers import refusals
from handlers.flags import gated
from handlers.ui import tell

if TYPE_CHECKING:
    from redis.client import Pipeline


FROZEN = "limits_frozen"        # ctx.data: seconds left of the spam freeze, as the gate read it
COUNTED = "limits_counted"      # ctx.data: this update's count in the command window, as the gate counted it


def hit(ctx: Context, name: str, limit: int, window_s: int) -> bool:
    """Count one event for this user; False when it goes over `limit` within the window."""
    pipe = ctx.services.bot.redis.pipeline(transaction=False)
    _count(ctx, pipe, name, window_s)
    return pipe.execute()[0] <= limit


def _count(ctx: Context, pipe: Pipeline, name: str, window_s: int) -> None:
    key = ctx.services.bot.key("rl", name, ctx.user_id, int(time.time() // window_s))
    pipe.incr(key)
    pipe.expire(key, window_s + 1)


def queue_standing(ctx: Context, pipe: Pipeline, count: bool) -> Callable[[Iterator[Any]], None]:
    """Queue on the gate's pipeline the spam freeze's TTL and (`count`) this update's command count;
    the returned function takes their answers into ctx.data."""
    pipe.ttl(ctx.services.bot.key("freeze", ctx.user_id))
    if count:
        _count(ctx, pipe, "cmd", ctx.services.bot.settings.rate_limit_window_s)

    def take(answers: Iterator[Any]) -> None:
        ctx.data[FROZEN] = max(int(next(answers)), 0)
        if count:
            ctx.data[COUNTED] = int(next(answers))
            next(answers)                                 # the EXPIRE
    return take


#: The Node bot's per-action limits: action -> (Settings field with the count, window in seconds).
ACTIONS = {"submission": ("rate_limit_submissions_per_hour", 3600),
           "wallet_change": ("rate_limit_wallet_changes_per_day", 86400),
           "referral_code": ("rate_limit_referral_code_per_hour", 3600),
           "point_claim": ("rate_limit_point_claims_per_hour", 3600)}


def rate_limit(ctx: Context, call_next: CallNext) -> None:
    """Users: RATE_LIMIT_COMMANDS_PER_MIN for gated updates, RATE_LIMIT_SENSITIVE_PER_HOUR more for
    SENSITIVE ones. Admins: exempt from both, RATE_LIMIT_ADMIN_ACTIONS_PER_MIN for ADMIN ones. Over
    a limit, the update is refused with a throttled notice."""
    if gated(ctx) and not _within(ctx):
        if once(ctx, "rate-notice", 30):
            refusals.note(ctx.services.bot, "rate_limit", ctx.user_id, ctx.route)
            tell(ctx, ctx.services.bot.t(ctx, "rate_limited"))
        return
    call_next(ctx)


def _within(ctx: Context) -> bool:
    rt = ctx.services.bot
    s = rt.settings
    if rt.is_admin(ctx.user_id):
        return not ctx.flags.get("admin") or hit(ctx, "admin", s.rate_limit_admin_actions_per_min, 60)
    within = (ctx.data[COUNTED] <= s.rate_limit_commands_per_min if COUNTED in ctx.data
              else hit(ctx, "cmd", s.rate_limit_commands_per_min, s.rate_limit_window_s))
    return within and (not ctx.flags.get("sensitive") or hit(ctx, "sensitive", s.rate_limit_sensitive_per_hour, 3600))


def allow(ctx: Context, action: str, notify: bool = True) -> bool:
    """Count one `action` (a key of ACTIONS) for this user; False when over its limit, after a
    throttled notice unless `notify` is False. Admins are exempt."""
    rt = ctx.services.bot
    if rt.is_admin(ctx.user_id):
        return True
    field, window_s = ACTIONS[action]
    if hit(ctx, action, getattr(rt.settings, field), window_s):
        return True
    if notify and once(ctx, f"rate-notice-{action}", 30):
        tell(ctx, rt.t(ctx, "rate_limited"))
    return False


def once(ctx: Context, name: str, ttl_s: int) -> bool:
    """True the first time within ttl_s (throttles notices such as 'you are banned')."""
    rt = ctx.services.bot
    return bool(rt.redis.set(rt.key("once", name, ctx.user_id), 1, nx=True, ex=ttl_s))


def frozen_for(ctx: Context) -> int:
    """Seconds left of a spam freeze (0: not frozen)."""
    if FROZEN in ctx.data:
        return ctx.data[FROZEN]
    rt = ctx.services.bot
    return max(rt.redis.ttl(rt.key("freeze", ctx.user_id)), 0)


def count_spam(ctx: Context) -> str:
    """Count an unrecognised message: 'ok', 'warn' (at the warn threshold) or 'freeze'."""
    rt = ctx.services.bot
    s = rt.settings
    key = rt.key("spam", ctx.user_id)
    count = rt.redis.incr(key)
    if count == 1:
        rt.redis.expire(key, max(1, s.spam_window_ms // 1000))   # Redis 6.2 (the embedded server) has no EXPIRE NX
    if count >= s.spam_freeze_threshold:
        rt.redis.set(rt.key("freeze", ctx.user_id), 1, ex=s.spam_freeze_minutes * 60)
        rt.redis.delete(key)
        return "freeze"
    return "warn" if count == s.spam_warn_threshold else "ok"


def unfreeze(ctx: Context, user_id: int) -> None:
    unfreeze_user(ctx.services.bot, user_id)


def unfreeze_user(rt, user_id: int) -> None:
    """Lift a spam freeze and forget the spam count (an unban, from the bot or the admin web)."""
    rt.redis.delete(rt.key("freeze", user_id), rt.key("spam", user_id))


@contextmanager
def user_lock(ctx: Context, name: str, ttl_s: int = 30) -> Iterator[bool]:
    """Hold a per-user lock around a check-then-act (the transfer daily limit); yields False if busy.
    The holder is the update: its redelivery after a crash inside the lock gets the lock again."""
    rt = ctx.services.bot
    key = rt.key("lock", name, ctx.user_id)
    token = str(ctx.update_id)
    got = bool(rt.redis.set(key, token, nx=True, ex=ttl_s)) or rt.redis.get(key) == token.encode()
    try:
        yield got
    finally:
        if got and rt.redis.get(key) == token.encode():
            rt.redis.delete(key)
