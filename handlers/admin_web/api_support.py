"""Support tickets: GET /admin/api/tickets?status=open [viewer] (oldest first, keyset pages);
POST /admin/api/tickets/{id}/reply [moderator] {"text"} (delivered through the bot as /reply does);
POST /admin/api/tickets/{id}/close [moderator]."""
from __future__ import annotations

import dataclasses
from typing import Any

from handlers.admin_web import params
from handlers.admin_web.api import AdminRequest, ApiError, route
from storage.records import Ticket

STATUSES = ("open", "answered", "closed")


@route("GET", "/tickets", role="viewer")
async def tickets(req: AdminRequest) -> dict[str, Any]:
    query = req.request.query
    status, limit, after = params.status(query, STATUSES, "open"), params.limit(query), params.time_cursor(query)
    rows = await req.call(req.store.admin_views.tickets_page, status, after, limit + 1)
    page, next_cursor = params.time_page(rows, limit, lambda t: (t.created_at, t.id))
    return {"items": [dataclasses.asdict(t) for t in page], "next": next_cursor}


def _ticket(req: AdminRequest) -> Ticket:
    ticket = req.store.tickets.get(req.param("id")[:32])
    if ticket is None:
        raise ApiError(404, f"no ticket {req.param('id')[:32]}")
    return ticket


@route("POST", "/tickets/{id}/reply", role="moderator")
async def reply(req: AdminRequest) -> dict[str, Any]:
    text = params.text(await req.body(), "text", 3500)

    def change() -> tuple[Ticket, str]:
        before = _ticket(req)
        if not req.store.tickets.reply(before.id, req.admin_id, text):
            raise ApiError(409, f"ticket {before.id} is closed")
        after = req.store.tickets.get(before.id) or before
        req.audited("ticket.reply", f"ticket:{before.id}", {"status": before.status, "reply": before.reply},
                    {"status": after.status, "reply": text})
        user = req.store.users.get(before.user_id)
        texts = req.admin.rt.texts
        return after, texts.get(texts.pick(user.language_code if user else ""), "support_reply", id=before.id, text=text)
    after, notice = await req.call(change)
    await req.admin.notify(after.user_id, notice)
    return {"ticket": dataclasses.asdict(after)}


@route("POST", "/tickets/{id}/close", role="moderator")
async def close(req: AdminRequest) -> dict[str, Any]:
    def change() -> Ticket:
        before = _ticket(req)
        if not req.store.tickets.close(before.id):
            raise ApiError(409, f"ticket {before.id} is closed already")
        after = req.store.tickets.get(before.id) or before
        req.audited("ticket.close", f"ticket:{before.id}", {"status": before.status}, {"status": after.status})
        return after
    return {"ticket": dataclasses.asdict(await req.call(change))}
