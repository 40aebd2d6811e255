"""The admin web's part of the storage contract (roles, audit log), on every backend (the `store` fixture)."""
from __future__ import annotations

import pytest

from storage.admin_records import audit_id

NOW = 1_700_000_000.0


class TestAdminRolesContract:
    def test_grant_replace_list_and_revoke(self, store):
        roles = store.admin_roles
        assert roles.get(5) is None and roles.list() == []
        roles.grant(7, "viewer", granted_by=1, at=NOW)
        roles.grant(5, "moderator", granted_by=1, at=NOW)
        replaced = roles.grant(7, "admin", granted_by=2, at=NOW + 1)
        assert replaced.role == "admin"
        assert roles.get(7) == replaced
        assert [(r.user_id, r.role, r.granted_by) for r in roles.list()] == [(5, "moderator", 1), (7, "admin", 2)]
        assert roles.revoke(7) is True
        assert roles.revoke(7) is False
        assert roles.get(7) is None and [r.user_id for r in roles.list()] == [5]

    @pytest.mark.parametrize("role", ["super_admin", "root", "", "Admin"])
    def test_only_grantable_roles_are_stored(self, store, role):
        with pytest.raises(ValueError):
            store.admin_roles.grant(9, role, granted_by=1)
        assert store.admin_roles.get(9) is None


class TestAuditContract:
    def test_rows_keep_who_what_and_before_after(self, store):
        row = store.audit.write(1, "admin", "user.points", "user:42", {"points": 10},
                                {"points": 15, "reason": "bug bounty", "nested": [1, None, "x"]}, at=NOW)
        [back] = store.audit.page()
        assert back == row
        assert back.before == {"points": 10} and back.after["nested"] == [1, None, "x"]
        assert (back.admin_id, back.role, back.action, back.target, back.at) == (1, "admin", "user.points",
                                                                                "user:42", NOW)

    def test_pages_go_newest_first_by_keyset_with_filters(self, store):
        written = [store.audit.write(1 + i % 2, "admin", "task.update" if i % 3 else "user.ban", f"t:{i}",
                                     None, {"i": i}, at=NOW + i) for i in range(10)]
        newest_first = [w.id for w in reversed(written)]
        first = store.audit.page(limit=4)
        second = store.audit.page(limit=4, before_id=first[-1].id)
        third = store.audit.page(limit=4, before_id=second[-1].id)
        assert [e.id for e in first + second + third] == newest_first
        assert store.audit.page(limit=4, before_id=third[-1].id) == []
        by_admin = store.audit.page(admin_id=2)
        assert [e.after["i"] for e in by_admin] == [9, 7, 5, 3, 1]
        both = store.audit.page(admin_id=2, action="user.ban")
        assert [e.after["i"] for e in both] == [9, 3]
        assert [e.after["i"] for e in store.audit.page(limit=1, before_id=both[0].id, action="user.ban")] == [6]

    def test_ids_written_in_the_same_microsecond_stay_distinct_and_ordered_by_time(self, store):
        ids = {store.audit.write(1, "admin", "x", "y", at=NOW).id for _ in range(50)}
        assert len(ids) == 50
        assert audit_id(NOW) < audit_id(NOW + 0.000002) < audit_id(NOW + 86400 * 365 * 100)
