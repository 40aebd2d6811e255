"""Roles (super_admin) and the audit log (admin): grants audited with before/after, validation, keyset
pages, the streamed audit.csv."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.admin_web.conftest import ADMIN, MODERATOR, NOBODY, SUPER, VIEWER


def test_roles_list_says_where_each_role_comes_from(site):
    items = site.as_role("super_admin").get("/admin/api/roles").json()["items"]
    assert [(i["id"], i["role"], i["source"]) for i in items] == [
        (SUPER, "super_admin", "SUPER_ADMIN_USER_IDS"), (ADMIN, "admin", "ADMIN_USER_IDS"),
        (MODERATOR, "moderator", "grant"), (VIEWER, "viewer", "grant")]


def test_a_grant_takes_effect_and_is_audited_with_before_and_after(site):
    boss = site.as_role("super_admin")
    answer = boss.put(f"/admin/api/roles/{NOBODY}", json={"role": "moderator"})
    assert answer.status_code == 200 and answer.json()["grant"]["role"] == "moderator"
    assert site.signed_in(NOBODY).get("/admin/api/me").json()["role"] == "moderator"
    boss.put(f"/admin/api/roles/{NOBODY}", json={"role": "admin"})
    [upgrade, first] = site.audit("role.grant")
    assert (first.admin_id, first.role, first.target, first.before) == (SUPER, "super_admin", f"user:{NOBODY}", None)
    assert first.after["role"] == "moderator"
    assert upgrade.before["role"] == "moderator" and upgrade.after["role"] == "admin"
    assert boss.delete(f"/admin/api/roles/{NOBODY}").json() == {"ok": True, "id": NOBODY, "role": None}
    [revoked] = site.audit("role.revoke")
    assert revoked.before["role"] == "admin" and revoked.after is None
    assert boss.delete(f"/admin/api/roles/{NOBODY}").status_code == 404
    assert len(site.audit()) == 3


@pytest.mark.parametrize("path, body, status, field", [
    (f"/admin/api/roles/{NOBODY}", {"role": "super_admin"}, 400, "role"),
    (f"/admin/api/roles/{NOBODY}", {"role": 3}, 400, "role"),
    (f"/admin/api/roles/{NOBODY}", {}, 400, "role"),
    ("/admin/api/roles/abc", {"role": "viewer"}, 400, "telegram_id"),
    ("/admin/api/roles/0", {"role": "viewer"}, 400, "telegram_id"),
    (f"/admin/api/roles/{ADMIN}", {"role": "viewer"}, 409, None),        # ADMIN_USER_IDS: not changeable here
])
def test_grants_are_validated(site, path, body, status, field):
    answer = site.as_role("super_admin").put(path, json=body)
    assert answer.status_code == status and answer.json()["ok"] is False
    assert answer.json().get("field") == field
    assert site.audit() == []


def test_bodies_must_be_json_objects(site):
    boss = site.as_role("super_admin")
    assert boss.put(f"/admin/api/roles/{NOBODY}", content=b"not json").json()["error"] == "body is not JSON"
    assert boss.put(f"/admin/api/roles/{NOBODY}", json=["viewer"]).json()["error"] == "body is not a JSON object"


def test_the_audit_log_is_for_admins_and_pages_by_keyset(site):
    for i in range(7):
        site.store.audit.write(ADMIN if i % 2 else SUPER, "admin", "user.points" if i < 5 else "task.update",
                               f"user:{i}", {"i": i}, {"i": i + 1})
    assert site.as_role("moderator").get("/admin/api/audit").status_code == 403
    admin = site.as_role("admin")
    first = admin.get("/admin/api/audit", params={"limit": 3}).json()
    second = admin.get("/admin/api/audit", params={"limit": 3, "after": first["next"]}).json()
    third = admin.get("/admin/api/audit", params={"limit": 3, "after": second["next"]}).json()
    assert [r["before"]["i"] for r in first["items"] + second["items"] + third["items"]] == [6, 5, 4, 3, 2, 1, 0]
    assert third["next"] is None
    filtered = admin.get("/admin/api/audit", params={"admin": ADMIN, "action": "user.points"}).json()
    assert [r["target"] for r in filtered["items"]] == ["user:3", "user:1"]
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": "x"}, {"admin": "me"}, {"action": "x;drop"}, {"after": "a b"}):
        answer = admin.get("/admin/api/audit", params=bad)
        assert answer.status_code == 400 and answer.json()["field"] == next(iter(bad)), bad


def test_audit_csv_streams_every_row_with_formula_safe_cells(site):
    for i in range(1203):                                  # more than two of the stream's pages
        site.store.audit.write(ADMIN, "admin", "user.message", f"user:{i}", None, {"text": "hi"} if i else "=1+1")
    with site.as_role("admin").stream("GET", "/admin/api/audit.csv") as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        assert "chunked" in answer.headers.get("transfer-encoding", "")       # streamed, no Content-Length
        assert 'filename="audit.csv"' in answer.headers["content-disposition"]
        body = answer.read().decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["id", "at", "admin_id", "role", "action", "target", "before", "after"]
    assert len(rows) == 1 + 1203
    assert rows[-1][5] == "user:0" and rows[-1][7] == json.dumps("=1+1")     # JSON text starts with a quote
    assert len({r[0] for r in rows[1:]}) == 1203


def test_a_formula_in_a_cell_is_defused(site):
    site.store.audit.write(ADMIN, "admin", "user.message", "=HYPERLINK(\"x\")", None, None)
    site.store.audit.write(ADMIN, "admin", "user.message", "\t=1", None, None)
    rows = list(csv.reader(io.StringIO(site.as_role("admin").get("/admin/api/audit.csv").text)))
    assert [r[5] for r in rows[1:]] == ["'\t=1", "'=HYPERLINK(\"x\")"]
