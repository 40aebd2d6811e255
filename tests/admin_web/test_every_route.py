"""Every declared route, whatever its screen: 401 without a session, 403 below its role, 403 for a
change without the CSRF token; and every route declares one of the four roles."""
from __future__ import annotations

import re

import pytest

from handlers.admin_web import http  # noqa: F401  (imports every api_* module: ROUTES is complete)
from handlers.admin_web.api import ROUTES, UNSAFE
from handlers.admin_web.roles import RANK, ROLES

ALL = [pytest.param(r, id=f"{r.method} {r.path}") for r in ROUTES]


def concrete(path: str) -> str:
    return "/admin/api" + re.sub(r"\{[^}]+\}", "12345", path)


def test_the_registry_holds_every_screen():
    paths = {(r.method, r.path) for r in ROUTES}
    for expected in [("GET", "/me"), ("GET", "/stats"), ("GET", "/users"), ("GET", "/users/{id}"),
                     ("POST", "/users/{id}/points"), ("POST", "/users/{id}/message"), ("POST", "/users/{id}/ban"),
                     ("POST", "/users/{id}/unban"), ("POST", "/users/{id}/reset"), ("POST", "/users/{id}/clear-device"),
                     ("GET", "/tasks"), ("POST", "/tasks"), ("PATCH", "/tasks/{id}"), ("DELETE", "/tasks/{id}"),
                     ("POST", "/tasks/reorder"), ("GET", "/submissions"), ("POST", "/submissions/{id}/approve"),
                     ("POST", "/submissions/{id}/reject"), ("GET", "/withdrawals"), ("POST", "/withdrawals/{id}/paid"),
                     ("POST", "/withdrawals/{id}/fail"), ("GET", "/tickets"), ("POST", "/tickets/{id}/reply"),
                     ("POST", "/tickets/{id}/close"), ("GET", "/settings"), ("PATCH", "/settings"),
                     ("GET", "/security"), ("GET", "/roles"), ("PUT", "/roles/{telegram_id}"),
                     ("DELETE", "/roles/{telegram_id}"), ("GET", "/audit"), ("GET", "/audit.csv"),
                     ("GET", "/export/users.csv")]:
        assert expected in paths, expected
    assert all(r.role in RANK for r in ROUTES)


@pytest.mark.parametrize("spec", ALL)
def test_no_session_no_answer(site, spec):
    answer = site.anonymous().request(spec.method, concrete(spec.path), json={})
    assert answer.status_code == 401 and answer.json()["ok"] is False


@pytest.mark.parametrize("spec", [p for p in ALL if p.values[0].role != "viewer"])
def test_one_role_below_is_refused(site, spec):
    below = ROLES[RANK[spec.role] - 1]
    answer = site.as_role(below).request(spec.method, concrete(spec.path), json={})
    assert answer.status_code == 403 and f"needs the {spec.role} role" in answer.json()["error"]


@pytest.mark.parametrize("spec", [p for p in ALL if p.values[0].method in UNSAFE])
def test_changes_without_csrf_are_refused(site, spec):
    client = site.as_role("super_admin")
    del client.headers["X-CSRF-Token"]
    answer = client.request(spec.method, concrete(spec.path), json={})
    assert answer.status_code == 403 and "X-CSRF-Token" in answer.json()["error"]
    assert site.audit() == []
