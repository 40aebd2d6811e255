"""SQLite repositories of the admin web: granted roles, and the audit log (before/after as JSON text).

The audit log is only ever appended to; its id is time-ordered (storage.admin_records.audit_id), so
"newest first after a cursor" is `id < ? ORDER BY id DESC` on an index.
"""
from __future__ import annotations

import json
from typing import Any

from storage.admin_records import AdminRole, AuditEntry, audit_id
from storage.base import AdminRoleRepository, AuditRepository, check_grantable
from storage.records import from_mapping, now
from storage.sqlite.connection import SQLiteStoreView


class SQLiteAdminRoles(AdminRoleRepository):
    def __init__(self, store: SQLiteStoreView) -> None:
        self.db = store.db

    def get(self, user_id: int) -> AdminRole | None:
        row = self.db.query_one("SELECT * FROM admin_roles WHERE user_id = ?", (user_id,))
        return from_mapping(AdminRole, row) if row else None

    def grant(self, user_id: int, role: str, granted_by: int, at: float | None = None) -> AdminRole:
        check_grantable(role)
        granted = AdminRole(user_id, role, granted_by, at or now())
        self.db.execute("INSERT INTO admin_roles (user_id, role, granted_by, granted_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, granted_by = excluded.granted_by, "
                        "granted_at = excluded.granted_at", (user_id, role, granted_by, granted.granted_at))
        return granted

    def revoke(self, user_id: int) -> bool:
        return self.db.execute("DELETE FROM admin_roles WHERE user_id = ?", (user_id,)) == 1

    def list(self) -> list[AdminRole]:
        return [from_mapping(AdminRole, r) for r in self.db.query("SELECT * FROM admin_roles ORDER BY user_id")]


class SQLiteAudit(AuditRepository):
    def __init__(self, store: SQLiteStoreView) -> None:
        self.db = store.db

    def write(self, admin_id: int, role: str, action: str, target: str, before: Any = None, after: Any = None,
              at: float | None = None) -> AuditEntry:
        entry = AuditEntry(audit_id(at), at or now(), admin_id, role, action, target, before, after)
        self.db.execute("INSERT INTO audit (id, at, admin_id, role, action, target, before, after) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (entry.id, entry.at, admin_id, role, action, target, json.dumps(before), json.dumps(after)))
        return entry

    def page(self, limit: int = 50, before_id: str | None = None, admin_id: int | None = None,
             action: str | None = None) -> list[AuditEntry]:
        clauses, args = [], list[Any]()
        for sql, value in (("id < ?", before_id), ("admin_id = ?", admin_id), ("action = ?", action)):
            if value is not None:
                clauses.append(sql)
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.query(f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?", (*args, limit))
        return [_entry(r) for r in rows]


def _entry(row: dict[str, Any]) -> AuditEntry:
    return from_mapping(AuditEntry, {**row, "before": json.loads(row["before"]), "after": json.loads(row["after"])})
