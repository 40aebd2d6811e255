"""MongoDB repositories of the admin web: granted roles (`_id` = Telegram id) and the audit log
(`_id` = the time-ordered audit id, so newest first is a descending `_id` sort on an index)."""
from __future__ import annotations

from typing import Any

from storage.admin_records import AdminRole, AuditEntry, audit_id
from storage.base import AdminRoleRepository, AuditRepository, check_grantable
from storage.mongo.documents import to_doc, to_record
from storage.mongo.money import MongoStoreView
from storage.records import now


class MongoAdminRoles(AdminRoleRepository):
    def __init__(self, store: MongoStoreView) -> None:
        self.roles = store.plain["admin_roles"]

    def get(self, user_id: int) -> AdminRole | None:
        return to_record(AdminRole, self.roles.find_one({"_id": user_id}), "user_id")

    def grant(self, user_id: int, role: str, granted_by: int, at: float | None = None) -> AdminRole:
        check_grantable(role)
        granted = AdminRole(user_id, role, granted_by, at or now())
        self.roles.replace_one({"_id": user_id}, to_doc(granted, "user_id"), upsert=True)
        return granted

    def revoke(self, user_id: int) -> bool:
        return self.roles.delete_one({"_id": user_id}).deleted_count == 1

    def list(self) -> list[AdminRole]:
        return [to_record(AdminRole, d, "user_id") for d in self.roles.find().sort("_id", 1)]


class MongoAudit(AuditRepository):
    def __init__(self, store: MongoStoreView) -> None:
        self.audit = store.plain["audit"]

    def write(self, admin_id: int, role: str, action: str, target: str, before: Any = None, after: Any = None,
              at: float | None = None) -> AuditEntry:
        entry = AuditEntry(audit_id(at), at or now(), admin_id, role, action, target, before, after)
        self.audit.insert_one(to_doc(entry))
        return entry

    def page(self, limit: int = 50, before_id: str | None = None, admin_id: int | None = None,
             action: str | None = None) -> list[AuditEntry]:
        query: dict[str, Any] = {}
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        if admin_id is not None:
            query["admin_id"] = admin_id
        if action is not None:
            query["action"] = action
        return [to_record(AuditEntry, d) for d in self.audit.find(query).sort("_id", -1).limit(limit)]
