"""Tasks: the list with status badges, details, verification by kind, proof submissions.

Kinds: channel (getChatMember on `target`), premium (Telegram Premium), referrals (referral count
>= int(target)), daily (check-in, cooldown_s), link (open `target`, then confirm), proof (text that
must match `proof_pattern`, reviewed by an admin unless auto_approve). Rewards are paid by the
repository (`complete` / `review`), once per completion by construction.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import limits, numbers, proof_patterns
from handlers.flags import SENSITIVE
from handlers.gate import clean_text
from handlers.runtime import runtime
from handlers.ui import button, keyboard, respond, url_button

KINDS = ("channel", "premium", "referrals", "daily", "link", "proof")
PROOF_STATE = "proof"
MAX_PROOF = 500
router = Router("tasks")


@dataclass
class TaskButton(CallbackData, prefix="task"):
    """`task:v:<id>` details, `task:d:<id>` verify, `task:p:<id>` send a proof."""
    action: str = ""
    task_id: str = ""


def status_of(ctx: Context, task, submission) -> str:
    """done / pending / rejected / cooling / open."""
    if submission is None:
        return "open"
    if task.kind == "daily" and submission.status == "approved":
        ready = (submission.reviewed_at or submission.created_at) + task.cooldown_s
        return "cooling" if time.time() < ready else "open"
    return {"approved": "done", "pending": "pending", "rejected": "rejected"}.get(submission.status, "open")


BADGES = {"done": "✅", "pending": "⏳", "rejected": "❌", "cooling": "🕒", "open": "▫️"}


def show_tasks(ctx: Context) -> None:
    rt = runtime(ctx)
    tasks = rt.store.tasks.list(active_only=True)
    mine = {s.task_id: s for s in rt.store.submissions.list_for_user(ctx.user_id)}
    rows = [[button(ctx, f"{BADGES[status_of(ctx, t, mine.get(t.id))]} {t.title[:40]} (+{t.reward})",
                    TaskButton("v", t.id))] for t in tasks[:30]]
    rows.append([button(ctx, rt.t(ctx, "btn_back"), "m:menu")])
    respond(ctx, rt.t(ctx, "tasks", count=len(tasks)) if tasks else rt.t(ctx, "tasks_none"), keyboard(*rows))


def _task_from_payload(ctx: Context):
    pressed = TaskButton.of(ctx)
    task_id = pressed.task_id if pressed else ""
    task = runtime(ctx).store.tasks.get(task_id) if task_id and len(task_id) <= 32 else None
    return task if task is not None and task.active else None


def details(ctx: Context) -> None:
    rt = runtime(ctx)
    task = _task_from_payload(ctx)
    if task is None:
        ctx.answer(rt.t(ctx, "task_gone"), show_alert=True)
        return
    status = status_of(ctx, task, rt.store.submissions.get_for(ctx.user_id, task.id))
    rows = []
    if task.kind in ("channel", "link") and _url(task):
        rows.append([url_button(rt.t(ctx, "btn_open"), _url(task))])
    if status in ("open", "rejected"):
        action = "p" if task.kind == "proof" else "d"
        rows.append([button(ctx, rt.t(ctx, f"btn_task_{task.kind}"), TaskButton(action, task.id))])
    rows.append([button(ctx, rt.t(ctx, "btn_back"), "m:tasks")])
    respond(ctx, rt.t(ctx, "task_details", title=task.title, reward=task.reward,
                      how=rt.t(ctx, f"task_how_{task.kind}", target=task.target or "-"),
                      status=rt.t(ctx, f"task_status_{status}")), keyboard(*rows))


def _url(task) -> str:
    target = task.target or ""
    if target.startswith("@"):
        return f"https://t.me/{target[1:]}"
    return target if target.startswith(("https://", "http://")) else ""


def verify(ctx: Context) -> None:
    """Check a self-verified task and pay it (the repository refuses a second payment)."""
    rt = runtime(ctx)
    task = _task_from_payload(ctx)
    if task is None or task.kind == "proof":
        ctx.answer(rt.t(ctx, "task_gone"), show_alert=True)
        return
    if not limits.allow(ctx, "point_claim"):
        return
    problem = _check(ctx, task)
    if problem:
        ctx.answer(rt.t(ctx, problem, target=task.target), show_alert=True)
        return
    balance = rt.store.submissions.complete(ctx.user_id, task.id, task.reward, task.cooldown_s)
    if balance is None:
        ctx.answer(rt.t(ctx, "task_already"), show_alert=True)
        return
    ctx.answer(rt.t(ctx, "task_done", reward=task.reward))
    ctx.reply(rt.t(ctx, "task_done_msg", title=task.title, reward=task.reward, balance=balance))


def _check(ctx: Context, task) -> str | None:
    """None when the condition holds, else the text key saying why not."""
    rt = runtime(ctx)
    if task.kind == "channel":
        member = rt.api.is_member(task.target, ctx.user_id)
        return None if member else ("task_check_later" if member is None else "task_not_member")
    if task.kind == "premium":
        return None if ctx.effective_user.is_premium else "task_not_premium"
    if task.kind == "referrals":
        user = rt.store.users.get(ctx.user_id)
        need = numbers.whole(task.target, 1) or rt.settings.referral_task_threshold
        return None if user.referral_count >= need else "task_need_referrals"
    return None                                    # daily (cooldown in the repository), link


def ask_proof(ctx: Context) -> None:
    rt = runtime(ctx)
    task = _task_from_payload(ctx)
    if task is None or task.kind != "proof":
        ctx.answer(rt.t(ctx, "task_gone"), show_alert=True)
        return
    session = ctx.state_data
    session["proof_task"] = task.id
    ctx.set_state_data(session)
    ctx.set_state(PROOF_STATE)
    ctx.reply(rt.t(ctx, "proof_ask", title=task.title, target=task.target or "-"))


def on_proof(ctx: Context) -> None:
    """Validate against the task's pattern; one live submission per task; auto-approve pays at once."""
    rt = runtime(ctx)
    ctx.clear_state()
    session = ctx.state_data
    task = rt.store.tasks.get(session.pop("proof_task", "") or "")
    ctx.set_state_data(session)
    if task is None or not task.active or task.kind != "proof":
        ctx.reply(rt.t(ctx, "task_gone"))
        return
    proof = clean_text(ctx, MAX_PROOF + 1)
    if not proof or len(proof) > MAX_PROOF or (task.proof_pattern and not proof_patterns.matches(task.proof_pattern, proof)):
        ctx.reply(rt.t(ctx, "proof_invalid"))
        return
    if not limits.allow(ctx, "submission"):
        return
    submission = rt.store.submissions.submit(ctx.user_id, task.id, proof)
    if submission is None:
        ctx.reply(rt.t(ctx, "proof_exists"))
        return
    if task.auto_approve:
        rt.store.submissions.review(submission.id, True, None, task.reward)
        ctx.reply(rt.t(ctx, "task_done_msg", title=task.title, reward=task.reward,
                       balance=rt.store.points.balance(ctx.user_id)))
        return
    ctx.reply(rt.t(ctx, "proof_pending", id=submission.id))


router.command("tasks")(show_tasks)
router.callback("m:tasks")(show_tasks)
router.callback("task:v:")(details)
router.callback("task:d:")(verify)
router.callback("task:p:", flags=SENSITIVE)(ask_proof)
router.state(PROOF_STATE)(on_proof)
