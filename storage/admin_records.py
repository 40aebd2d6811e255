"""Records of the admin web's repositories (roles granted by super admins, the audit log).

Audit ids are time-ordered (microseconds since the epoch in hex, then random), so "newest first"
is one descending sort on the id and a page boundary (a keyset cursor) is a single id, the same
on every backend. before/after are JSON-compatible values, stored as they are given.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

#: Roles a super admin may grant (super_admin itself comes only from SUPER_ADMIN_USER_IDS).
GRANTABLE = ("viewer", "moderator", "admin")


def audit_id(at: float | None = None) -> str:
    """A time-ordered id: 14 hex digits of microseconds (good until the year 10889), 6 random."""
    micros = int((time.time() if at is None else at) * 1_000_000)
    return f"{micros:014x}{secrets.token_hex(3)}"


@dataclass(frozen=True)
class AdminRole:
    """A role granted in the admin web to one Telegram id."""

    user_id: int
    role: str                   # one of GRANTABLE
    granted_by: int
    granted_at: float


@dataclass(frozen=True)
class AuditEntry:
    """One change made through the admin web: who (id and role then), what, on what, before/after."""

    id: str
    at: float
    admin_id: int
    role: str
    action: str                 # "user.points", "task.update", "role.grant", ...
    target: str                 # "user:123", "task:daily", ...
    before: Any = None
    after: Any = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "admin_id": self.admin_id, "role": self.role, "action": self.action,
                "target": self.target, "before": self.before, "after": self.after}
