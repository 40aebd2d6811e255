"""The audit log (admin): GET /admin/api/audit?limit&after&admin=&action= (newest first, keyset pages)
and GET /admin/api/audit.csv (the same filters, every row, streamed)."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from handlers.admin_web import csv_stream, params
from handlers.admin_web.api import AdminRequest, invalid, route
from storage.admin_records import AuditEntry

CSV_PAGE = 500
COLUMNS = ("id", "at", "admin_id", "role", "action", "target", "before", "after")


def _filters(req: AdminRequest) -> dict[str, Any]:
    query = req.request.query
    admin = query.get("admin", "")
    action = query.get("action", "")
    if action and (len(action) > 64 or not action.replace(".", "").replace("_", "").isalnum()):
        raise invalid("action", "an action name such as user.points")
    return {"admin_id": params.telegram_id(admin, "admin") if admin else None, "action": action or None}


@route("GET", "/audit", role="admin")
async def audit_page(req: AdminRequest) -> dict[str, Any]:
    limit = params.limit(req.request.query)
    after = params.cursor(req.request.query)
    rows = await req.call(req.store.audit.page, limit + 1, after, **_filters(req))
    page = rows[:limit]
    return {"items": [r.public() for r in page], "next": page[-1].id if len(rows) > limit else None}


def _row(entry: AuditEntry) -> list[Any]:
    return [entry.id, entry.at, entry.admin_id, entry.role, entry.action, entry.target,
            json.dumps(entry.before, ensure_ascii=False), json.dumps(entry.after, ensure_ascii=False)]


@route("GET", "/audit.csv", role="admin")
async def audit_csv(req: AdminRequest) -> web.StreamResponse:
    filters = _filters(req)

    def fetch(after: str | None) -> tuple[list[Any], str | None]:
        rows = req.store.audit.page(CSV_PAGE, after, **filters)
        return [_row(r) for r in rows], rows[-1].id if len(rows) == CSV_PAGE else None
    return await csv_stream.stream(req, "audit.csv", COLUMNS, fetch)
