"""The audit helper: every change made through the admin web writes exactly one row (who, with which
role, what, on what, before and after) to the storage `audit` repository, in the same thread call
that made the change, so a change without its row cannot be returned to the browser."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.admin_records import AuditEntry
    from storage.base import Store


def snapshot(value: Any) -> Any:
    """A JSON-compatible picture of a record (dataclass) or value, for before/after."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def write(store: Store, admin_id: int, role: str, action: str, target: str, before: Any, after: Any) -> AuditEntry:
    """Append the row of one change (`action` such as "user.points", `target` such as "user:123")."""
    return store.audit.write(admin_id, role, action, target, snapshot(before), snapshot(after))
