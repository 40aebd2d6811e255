"""Roles (super_admin only): GET /admin/api/roles lists who has which admin web role and why (the
configuration or a grant); PUT /admin/api/roles/{telegram_id} {"role"} grants viewer, moderator or
admin; DELETE revokes a grant. Ids that get their role from the configuration cannot be changed here
(edit ADMIN_USER_IDS / SUPER_ADMIN_USER_IDS instead). Every change is audited ("role.grant",
"role.revoke", target "user:<id>")."""
from __future__ import annotations

from typing import Any

from handlers.admin_web import params
from handlers.admin_web.api import AdminRequest, ApiError, invalid, route
from handlers.admin_web.audit import snapshot
from handlers.admin_web.roles import configured_role
from storage.admin_records import GRANTABLE


@route("GET", "/roles", role="super_admin")
async def list_roles(req: AdminRequest) -> dict[str, Any]:
    s = req.settings
    items: list[dict[str, Any]] = [{"id": uid, "role": "super_admin", "source": "SUPER_ADMIN_USER_IDS"}
                                   for uid in s.super_admin_user_ids]
    items += [{"id": uid, "role": "admin", "source": "ADMIN_USER_IDS"} for uid in s.admin_user_ids
              if uid not in s.super_admin_user_ids]
    grants = await req.call(req.store.admin_roles.list)
    items += [{"id": g.user_id, "role": g.role, "source": "grant", "granted_by": g.granted_by,
               "granted_at": g.granted_at} for g in grants if configured_role(s, g.user_id) is None]
    return {"items": items, "grantable": list(GRANTABLE)}


def _target(req: AdminRequest) -> int:
    uid = params.telegram_id(req.param("telegram_id"), "telegram_id")
    if configured_role(req.settings, uid) is not None:
        raise ApiError(409, f"{uid} gets its role from the configuration (ADMIN_USER_IDS / SUPER_ADMIN_USER_IDS)")
    return uid


@route("PUT", "/roles/{telegram_id}", role="super_admin")
async def grant(req: AdminRequest) -> dict[str, Any]:
    uid = _target(req)
    role = (await req.body()).get("role")
    if role not in GRANTABLE:
        raise invalid("role", "one of " + ", ".join(GRANTABLE))

    def change() -> dict[str, Any]:
        before = req.store.admin_roles.get(uid)
        after = req.store.admin_roles.grant(uid, str(role), req.admin_id)
        req.audited("role.grant", f"user:{uid}", snapshot(before), snapshot(after))
        return {"id": uid, "role": after.role, "granted_by": after.granted_by, "granted_at": after.granted_at}
    return {"grant": await req.call(change)}


@route("DELETE", "/roles/{telegram_id}", role="super_admin")
async def revoke(req: AdminRequest) -> dict[str, Any]:
    uid = _target(req)

    def change() -> bool:
        before = req.store.admin_roles.get(uid)
        if before is None:
            return False
        req.store.admin_roles.revoke(uid)
        req.audited("role.revoke", f"user:{uid}", snapshot(before), None)
        return True
    if not await req.call(change):
        raise ApiError(404, f"{uid} has no granted role")
    return {"id": uid, "role": None}
