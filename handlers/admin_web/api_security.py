"""GET /admin/api/security [viewer]: who is banned now (keyset page, ?banned_after=), accounts refused
because their device is held by another account (?device_after=; lift with clear-device), and the
recent refusals the bot's gate recorded (handlers.refusals)."""
from __future__ import annotations

import time
from typing import Any

from handlers import refusals
from handlers.admin_web import params, user_json
from handlers.admin_web.api import AdminRequest, route
from storage.records import User

PAGE = 50


def _page(rows: list[User]) -> dict[str, Any]:
    page = rows[:PAGE]
    return {"items": [{**user_json.summary(u), "ban_reason": u.ban_reason} for u in page],
            "next": str(page[-1].id) if len(rows) > PAGE else None}


@route("GET", "/security", role="viewer")
async def security(req: AdminRequest) -> dict[str, Any]:
    query, views = req.request.query, req.store.admin_views
    banned_after, device_after = params.int_cursor(query, "banned_after"), params.int_cursor(query, "device_after")

    def read() -> dict[str, Any]:
        return {"banned": _page(views.banned_page(banned_after, PAGE + 1, time.time())),
                "device_taken": _page(views.users_in_captcha_state(user_json.DEVICE_TAKEN, device_after, PAGE + 1)),
                "refusals": refusals.recent(req.admin.rt)}
    return await req.call(read)
