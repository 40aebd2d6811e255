"""GET /admin/api/me: the signed-in admin and the session's CSRF token (the one way a page or a
script learns it: every POST/PUT/PATCH/DELETE must send it back as X-CSRF-Token)."""
from __future__ import annotations

from typing import Any

from handlers.admin_web.api import AdminRequest, route


@route("GET", "/me", role="viewer")
async def me(req: AdminRequest) -> dict[str, Any]:
    user = await req.call(req.store.users.get, req.admin_id)
    name = (user.first_name or (f"@{user.username}" if user.username else "")) if user else ""
    return {"id": req.admin_id, "role": req.role, "name": name or str(req.admin_id), "csrf": req.session.csrf}
