"""Admin commands, every one registered with admin=True (ADMIN_USER_IDS): stats, awards, the proof
review queue, task management, user lookup, withdrawals, and the users CSV sent as a document."""
from __future__ import annotations

import time
from dataclasses import dataclass

from loguru import logger

from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import export as users_export
from handlers import numbers, proof_patterns
from handlers.flags import ADMIN
from handlers.gate import message_key
from handlers.moderation import target_user, user_from_args
from handlers.runtime import runtime
from handlers.tasks import KINDS
from handlers.ui import button, keyboard
from storage.records import DuplicateError, Task, new_id

DAY_S = 86400
router = Router("admin")


@dataclass
class Review(CallbackData, prefix="adm"):
    """`adm:ap:<submission>` approves a proof, `adm:rj:<submission>` rejects it."""
    verdict: str = ""
    submission_id: str = ""
MAX_AWARD = 10**9

def stats(ctx: Context) -> None:
    rt = runtime(ctx)
    store = rt.store
    now = time.time()
    totals = store.points.totals()
    subs = store.submissions.count_by_status()
    ctx.reply(rt.t(ctx, "admin_stats", users=store.users.count(), new=store.users.count_registered_since(now - DAY_S),
                   active=store.users.count_active_since(now - DAY_S), points=totals["points"],
                   earned=totals["total_earned"], pending=subs.get("pending", 0),
                   withdrawals=store.points.count_withdrawals("pending"),
                   tickets=store.tickets.count_open(), maintenance=bool(rt.switch("maintenance"))))


def award(ctx: Context) -> None:
    """/award <id|@user> <amount> [reason]: idempotent per update (a redelivery pays nothing twice)."""
    rt = runtime(ctx)
    args = ctx.args
    user = target_user(ctx, args[0]) if args else None
    amount = numbers.whole(args[1], 1, MAX_AWARD) if len(args) >= 2 else None
    if user is None or amount is None:
        ctx.reply(rt.t(ctx, "usage", usage="/award <id|@user> <amount> [reason]"))
        return
    reason = " ".join(args[2:])[:200]
    balance = rt.store.points.credit(user.id, amount, "award", f"admin {ctx.user_id}: {reason}",
                                     key=f"award:{message_key(ctx)}")
    logger.info("Admin {} awarded {} points to {} ({})", ctx.user_id, amount, user.id, reason)
    ctx.reply(rt.t(ctx, "award_done", id=user.id, amount=amount, balance=balance))
    ctx.send(user.id, rt.texts.get(rt.texts.pick(user.language_code), "award_received", amount=amount,
                                   reason=reason or "-"))


def pending(ctx: Context) -> None:
    """The review queue, oldest first, with Approve / Reject buttons bound to this admin."""
    rt = runtime(ctx)
    queue = rt.store.submissions.list_pending(10)
    if not queue:
        ctx.reply(rt.t(ctx, "pending_none"))
        return
    for sub in queue:
        task = rt.store.tasks.get(sub.task_id)
        ctx.reply(rt.t(ctx, "pending_item", id=sub.id, user=sub.user_id, task=task.title if task else sub.task_id,
                       proof=sub.proof[:500]),
                  reply_markup=keyboard([button(ctx, "✅", Review("ap", sub.id)), button(ctx, "❌", Review("rj", sub.id))]))


def approve(ctx: Context) -> None:
    _review(ctx, True, ctx.args[0][:32] if ctx.args else "", " ".join(ctx.args[1:])[:200])


def reject(ctx: Context) -> None:
    _review(ctx, False, ctx.args[0][:32] if ctx.args else "", " ".join(ctx.args[1:])[:200])


def review_button(ctx: Context) -> None:
    pressed = Review.of(ctx) or Review()
    _review(ctx, pressed.verdict == "ap", pressed.submission_id, "")


def _review(ctx: Context, approve_it: bool, submission_id: str, note: str) -> None:
    """Approve (pays the task's reward) or reject; a second click finds it no longer pending."""
    rt = runtime(ctx)
    sub = rt.store.submissions.get(submission_id) if submission_id else None
    task = rt.store.tasks.get(sub.task_id) if sub else None
    done = rt.store.submissions.review(sub.id, approve_it, ctx.user_id, task.reward if task else 0) if sub else None
    if done is None:
        text = rt.t(ctx, "review_not_pending")
    else:
        text = rt.t(ctx, "review_done", id=sub.id, verdict="approved" if approve_it else "rejected")
        user = rt.store.users.get(sub.user_id)
        key = "proof_approved" if approve_it else "proof_rejected"
        ctx.send(sub.user_id, rt.texts.get(rt.texts.pick(user.language_code if user else ""), key,
                                           task=task.title if task else sub.task_id,
                                           reward=task.reward if task else 0, note=note or "-"))
    if ctx.callback_data is not None:
        ctx.answer(text[:200])
    else:
        ctx.reply(text)


def add_task(ctx: Context) -> None:
    """/addtask <kind> <reward> <target|-> <title...>; proof tasks: target may end with ' | <regex>'."""
    rt = runtime(ctx)
    args = ctx.args
    reward = numbers.whole(args[1], 0, MAX_AWARD) if len(args) >= 2 else None
    if len(args) < 4 or args[0] not in KINDS or reward is None:
        ctx.reply(rt.t(ctx, "usage", usage="/addtask <" + "|".join(KINDS) + "> <reward> <target|-> <title>"
                                         " [| proof regex]"))
        return
    title, _, pattern = " ".join(args[3:]).partition(" | ")
    refused = proof_patterns.check(pattern) if pattern else None
    if refused:
        ctx.reply(rt.t(ctx, "proof_pattern_bad", reason=refused[:200]))
        return
    target = "" if args[2] == "-" else args[2][:200]
    task = Task(new_id(), args[0], title[:80], reward, target=target, proof_pattern=pattern,
                cooldown_s=rt.settings.daily_task_reset_interval_s if args[0] == "daily" else 0, order=100)
    try:
        created = rt.store.tasks.create(task)
    except DuplicateError:
        ctx.reply(rt.t(ctx, "task_exists"))
        return
    ctx.reply(rt.t(ctx, "task_added", id=created.id, title=created.title))


def set_task_active(ctx: Context) -> None:
    rt = runtime(ctx)
    active = ctx.command == "enabletask"
    task = rt.store.tasks.set_active(ctx.args[0][:32], active) if ctx.args else None
    if task is None:
        ctx.reply(rt.t(ctx, "usage", usage=f"/{ctx.command} <task id>"))
        return
    ctx.reply(rt.t(ctx, "task_toggled", id=task.id, active=task.active))


def list_tasks(ctx: Context) -> None:
    rt = runtime(ctx)
    lines = "\n".join(f"{t.id} [{t.kind}] +{t.reward} {'on' if t.active else 'off'} — {t.title}"
                      for t in rt.store.tasks.list(active_only=False))
    ctx.reply(rt.t(ctx, "task_list", lines=lines or "-"))


def lookup(ctx: Context) -> None:
    rt = runtime(ctx)
    user = user_from_args(ctx, "/user <id|@user>")
    if user is None:
        return
    ctx.reply(rt.t(ctx, "user_info", id=user.id, username=user.username or "-", name=user.first_name or "-",
                   points=user.points, earned=user.total_earned, referrals=user.referral_count,
                   referred_by=user.referred_by or "-", wallet=user.wallet_address or "-",
                   captcha=user.captcha_passed, banned=user.is_banned(), reason=user.ban_reason or "-",
                   blocked=user.blocked_bot))


def export(ctx: Context) -> None:
    """Every user as gzip CSV (in parts under 50 MB), streamed to disk and uploaded from there."""
    rt = runtime(ctx)
    assert ctx.chat_id is not None              # a command always comes from a chat
    count = users_export.send_export(rt, ctx.chat_id, lambda n, parts, rows: rt.t(
        ctx, "export_part", part=n, parts=parts, count=rows))
    ctx.reply(rt.t(ctx, "export_done", count=count))


def withdrawals(ctx: Context) -> None:
    rt = runtime(ctx)
    rows = rt.store.points.list_withdrawals("pending", 20)
    lines = "\n".join(f"{w.id}: {w.user_id} {w.amount} -> {w.address}" for w in rows)
    ctx.reply(rt.t(ctx, "withdrawals", lines=lines or "-"))


def settle(ctx: Context) -> None:
    """/paid <id> [tx hash] | /failed <id> [note] (failed refunds the points atomically)."""
    rt = runtime(ctx)
    w = rt.store.points.get_withdrawal(ctx.args[0][:32]) if ctx.args else None
    extra = " ".join(ctx.args[1:])[:200]
    if w is None:
        ctx.reply(rt.t(ctx, "usage", usage=f"/{ctx.command} <withdrawal id> [note]"))
        return
    ok = (rt.store.points.mark_withdrawal_paid(w.id, extra) if ctx.command == "paid"
          else rt.store.points.mark_withdrawal_failed(w.id, extra))
    if not ok:
        ctx.reply(rt.t(ctx, "withdrawal_not_pending"))
        return
    ctx.reply(rt.t(ctx, "withdrawal_settled", id=w.id, status=ctx.command))
    user = rt.store.users.get(w.user_id)
    ctx.send(w.user_id, rt.texts.get(rt.texts.pick(user.language_code if user else ""),
                                     "withdrawal_" + ctx.command, amount=w.amount, note=extra or "-"))


ADMIN_COMMANDS = {
    ("admin",): stats, ("award",): award, ("pending",): pending, ("approve",): approve, ("reject",): reject,
    ("addtask",): add_task, ("disabletask", "enabletask"): set_task_active, ("tasklist",): list_tasks,
    ("user",): lookup, ("export",): export, ("withdrawals",): withdrawals, ("paid", "failed"): settle,
}


for _names, _handler in ADMIN_COMMANDS.items():
    router.command(*_names, flags=ADMIN)(_handler)
router.callback(Review, flags=ADMIN)(review_button)


