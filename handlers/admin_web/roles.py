"""Admin web roles: viewer < moderator < admin < super_admin.

Where a role comes from, strongest first: SUPER_ADMIN_USER_IDS (super_admin), ADMIN_USER_IDS
(admin), then a grant a super admin stored (storage `admin_roles`). A role is looked up on every
request, so a revoked grant or a changed configuration takes effect at once, not at the next login.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botrunner.config.settings import Settings
    from storage.base import AdminRoleRepository

ROLES = ("viewer", "moderator", "admin", "super_admin")
RANK = {role: rank for rank, role in enumerate(ROLES)}


def role_of(settings: Settings, grants: AdminRoleRepository, user_id: int) -> str | None:
    """The admin web role of a Telegram id, or None (no access)."""
    if user_id in settings.super_admin_user_ids:
        return "super_admin"
    if user_id in settings.admin_user_ids:
        return "admin"
    grant = grants.get(user_id)
    return grant.role if grant is not None and grant.role in RANK else None


def allows(role: str | None, needed: str) -> bool:
    """Whether `role` may use a route that declares `needed`."""
    return role is not None and RANK.get(role, -1) >= RANK[needed]


def configured_role(settings: Settings, user_id: int) -> str | None:
    """The role the configuration gives (super_admin or admin); grants cannot change these ids."""
    if user_id in settings.super_admin_user_ids:
        return "super_admin"
    return "admin" if user_id in settings.admin_user_ids else None
