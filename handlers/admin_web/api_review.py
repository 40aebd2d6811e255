"""The review queues: submissions (proofs) and withdrawals, keyset-paginated oldest first.

GET  /admin/api/submissions?status=pending        [viewer]
POST /admin/api/submissions/{id}/approve|reject   [moderator] {"note"}: as the bot's /approve and /reject
                                                  (approving pays the task's reward once); 409 unless pending
GET  /admin/api/withdrawals?status=pending        [viewer]
POST /admin/api/withdrawals/{id}/paid             [admin] {"tx_hash"}
POST /admin/api/withdrawals/{id}/fail             [admin] {"note"}: refunds the points atomically
The user is told the outcome through the bot, in their language, as the bot's commands tell them.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from handlers.admin_web import params
from handlers.admin_web.api import AdminRequest, ApiError, route
from storage.records import Submission, User, Withdrawal

SUBMISSION_STATUSES = ("pending", "approved", "rejected")
WITHDRAWAL_STATUSES = ("pending", "paid", "failed")


def _tell(req: AdminRequest, user: User | None, key: str, **values: Any) -> str:
    texts = req.admin.rt.texts
    return texts.get(texts.pick(user.language_code if user else ""), key, **values)


def _submission(req: AdminRequest, sub: Submission) -> dict[str, Any]:
    task = req.store.tasks.get(sub.task_id)
    return {**dataclasses.asdict(sub), "task_title": task.title if task else sub.task_id,
            "reward": task.reward if task else 0}


@route("GET", "/submissions", role="viewer")
async def submissions(req: AdminRequest) -> dict[str, Any]:
    query = req.request.query
    status, limit, after = params.status(query, SUBMISSION_STATUSES, "pending"), params.limit(query), \
        params.time_cursor(query)

    def read() -> dict[str, Any]:
        rows = req.store.admin_views.submissions_page(status, after, limit + 1)
        page, next_cursor = params.time_page(rows, limit, lambda s: (s.created_at, s.id))
        return {"items": [_submission(req, s) for s in page], "next": next_cursor}
    return await req.call(read)


async def _review(req: AdminRequest, approve: bool) -> dict[str, Any]:
    submission_id = req.param("id")[:32]
    note = params.text(await req.body(), "note", 200, required=False)

    def change() -> tuple[Submission, str]:
        sub = req.store.submissions.get(submission_id)
        if sub is None:
            raise ApiError(404, f"no submission {submission_id}")
        task = req.store.tasks.get(sub.task_id)
        reward = task.reward if task else 0
        done = req.store.submissions.review(sub.id, approve, req.admin_id, reward)
        if done is None:
            raise ApiError(409, f"submission {sub.id} is {sub.status}, not pending")
        req.audited("submission." + ("approve" if approve else "reject"), f"submission:{sub.id}",
                    {"status": sub.status}, {"status": done.status, "reward": reward if approve else 0, "note": note})
        notice = _tell(req, req.store.users.get(sub.user_id), "proof_approved" if approve else "proof_rejected",
                       task=task.title if task else sub.task_id, reward=reward, note=note or "-")
        return done, notice
    done, notice = await req.call(change)
    await req.admin.notify(done.user_id, notice)
    return {"submission": await req.call(_submission, req, done)}


@route("POST", "/submissions/{id}/approve", role="moderator")
async def approve(req: AdminRequest) -> dict[str, Any]:
    return await _review(req, True)


@route("POST", "/submissions/{id}/reject", role="moderator")
async def reject(req: AdminRequest) -> dict[str, Any]:
    return await _review(req, False)


@route("GET", "/withdrawals", role="viewer")
async def withdrawals(req: AdminRequest) -> dict[str, Any]:
    query = req.request.query
    status, limit, after = params.status(query, WITHDRAWAL_STATUSES, "pending"), params.limit(query), \
        params.time_cursor(query)
    rows = await req.call(req.store.admin_views.withdrawals_page, status, after, limit + 1)
    page, next_cursor = params.time_page(rows, limit, lambda w: (w.created_at, w.id))
    return {"items": [dataclasses.asdict(w) for w in page], "next": next_cursor}


async def _settle(req: AdminRequest, paid: bool) -> dict[str, Any]:
    withdrawal_id = req.param("id")[:32]
    body = await req.body()
    extra = params.text(body, "tx_hash" if paid else "note", 200, required=paid)

    def change() -> tuple[Withdrawal, str]:
        w = req.store.points.get_withdrawal(withdrawal_id)
        if w is None:
            raise ApiError(404, f"no withdrawal {withdrawal_id}")
        ok = (req.store.points.mark_withdrawal_paid(w.id, extra) if paid
              else req.store.points.mark_withdrawal_failed(w.id, extra))
        if not ok:
            raise ApiError(409, f"withdrawal {w.id} is {w.status}, not pending")
        after = req.store.points.get_withdrawal(w.id) or w
        req.audited("withdrawal." + ("paid" if paid else "fail"), f"withdrawal:{w.id}",
                    {"status": w.status}, {"status": after.status, "tx_hash": after.tx_hash, "note": after.note,
                                           "refunded": after.refunded})
        notice = _tell(req, req.store.users.get(w.user_id), "withdrawal_paid" if paid else "withdrawal_failed",
                       amount=w.amount, note=extra or "-")
        return after, notice
    after, notice = await req.call(change)
    await req.admin.notify(after.user_id, notice)
    return {"withdrawal": dataclasses.asdict(after)}


@route("POST", "/withdrawals/{id}/paid", role="admin")
async def paid(req: AdminRequest) -> dict[str, Any]:
    return await _settle(req, True)


@route("POST", "/withdrawals/{id}/fail", role="admin")
async def fail(req: AdminRequest) -> dict[str, Any]:
    return await _settle(req, False)
