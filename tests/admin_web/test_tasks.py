"""Tasks: list, create, edit (enable/disable, reward), delete, reorder; validation and audit rows."""
from __future__ import annotations

import pytest

from tests.admin_web.conftest import ADMIN

NEW = {"id": "visit_site", "kind": "link", "title": "Visit our site", "reward": 7, "target": "https://example.org"}


def ids(site) -> list[str]:
    return [t["id"] for t in site.as_role("viewer").get("/admin/api/tasks").json()["items"]]


def test_the_list_shows_the_seeded_defaults_in_order(site):
    from handlers.task_catalog import sync_default_tasks
    sync_default_tasks(site.store, site.settings)
    assert ids(site) == ["daily", "invite", "premium"]


def test_create_edit_delete_with_audit(site):
    admin = site.as_role("admin")
    assert site.as_role("moderator").post("/admin/api/tasks", json=NEW).status_code == 403
    created = admin.post("/admin/api/tasks", json=NEW).json()["task"]
    assert (created["id"], created["reward"], created["active"], created["order"]) == ("visit_site", 7, True, 100)
    assert admin.post("/admin/api/tasks", json=NEW).status_code == 409
    edited = admin.patch("/admin/api/tasks/visit_site", json={"reward": 12, "active": False}).json()["task"]
    assert edited["reward"] == 12 and edited["active"] is False
    assert site.store.tasks.get("visit_site").reward == 12
    gone = admin.delete("/admin/api/tasks/visit_site").json()
    assert gone["deleted"] and site.store.tasks.get("visit_site") is None
    assert admin.delete("/admin/api/tasks/visit_site").status_code == 404
    [delete, update, create] = site.audit()
    assert (create.action, create.before, create.after["title"]) == ("task.create", None, "Visit our site")
    assert update.before == {"reward": 7, "active": True} and update.after == {"reward": 12, "active": False}
    assert delete.action == "task.delete" and delete.before["id"] == "visit_site" and delete.after is None
    assert {r.admin_id for r in site.audit()} == {ADMIN}


def test_a_default_task_is_disabled_not_deleted(site):
    from handlers.task_catalog import sync_default_tasks
    sync_default_tasks(site.store, site.settings)
    answer = site.as_role("admin").delete("/admin/api/tasks/daily")
    assert answer.status_code == 409 and site.store.tasks.get("daily") is not None


@pytest.mark.parametrize("body, field", [
    ({**NEW, "kind": "quiz"}, "kind"), ({**NEW, "reward": -1}, "reward"), ({**NEW, "title": ""}, "title"),
    ({**NEW, "id": "Bad Id"}, "id"), ({**NEW, "proof_pattern": r"(a)\1"}, "proof_pattern"),
    ({**NEW, "colour": "red"}, "colour"), ({"kind": "link", "title": "x"}, "reward"),
    ({**NEW, "active": "yes"}, "active"), ({**NEW, "cooldown_s": 10**9}, "cooldown_s"),
])
def test_task_fields_are_validated(site, body, field):
    answer = site.as_role("admin").post("/admin/api/tasks", json=body)
    assert answer.status_code == 400 and answer.json()["field"] == field, answer.json()
    assert site.audit() == []


def test_patch_rules(site):
    admin = site.as_role("admin")
    assert admin.patch("/admin/api/tasks/nope", json={"reward": 1}).status_code == 404
    admin.post("/admin/api/tasks", json=NEW)
    assert admin.patch("/admin/api/tasks/visit_site", json={}).status_code == 400
    assert admin.patch("/admin/api/tasks/visit_site", json={"id": "other"}).status_code == 400     # ids stay
    assert site.store.tasks.get("visit_site") is not None and site.audit("task.update") == []


def test_reorder_needs_every_id_once(site):
    admin = site.as_role("admin")
    for n in (1, 2, 3):
        admin.post("/admin/api/tasks", json={**NEW, "id": f"t{n}"})
    assert admin.post("/admin/api/tasks/reorder", json={"ids": ["t3", "t1"]}).json()["field"] == "ids"
    assert admin.post("/admin/api/tasks/reorder", json={"ids": ["t3", "t3", "t1"]}).json()["field"] == "ids"
    answer = admin.post("/admin/api/tasks/reorder", json={"ids": ["t3", "t1", "t2"]}).json()
    assert [t["id"] for t in answer["items"]] == ["t3", "t1", "t2"] == ids(site)
    [row] = site.audit("task.reorder")
    assert row.before == ["t1", "t2", "t3"] and row.after == ["t3", "t1", "t2"]
