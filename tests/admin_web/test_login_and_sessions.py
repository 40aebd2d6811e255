"""Login links, sessions, /me, logout and the guard's 401/403 rules, over HTTP against the real server."""
from __future__ import annotations

import hashlib
import time

import pytest

from handlers.admin_web.api import COOKIE
from tests.admin_web.conftest import ADMIN, KEYS, MODERATOR, NOBODY, SUPER, VIEWER


def test_a_login_link_opens_a_session_once(site):
    token = site.login_token(ADMIN)
    browser = site.anonymous()
    first = browser.get("/admin/login", params={"token": token})
    assert first.status_code == 303 and first.headers["location"] == "/admin/"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=43200"):
        assert attribute.lower() in cookie.lower()
    assert "secure" not in cookie.lower()                           # the test URL is http://
    me = browser.get("/admin/api/me").json()
    assert me["ok"] and me["id"] == ADMIN and me["role"] == "admin" and len(me["csrf"]) >= 40
    again = site.anonymous().get("/admin/login", params={"token": token})
    assert again.status_code == 401 and "invalid, expired or used" in again.text
    assert "text/html" in again.headers["content-type"]


def test_the_cookie_is_secure_when_the_panel_is_https(make_site):
    site = make_site(ADMIN_PUBLIC_URL="https://panel.example.org")
    answer = site.anonymous().get("/admin/login", params={"token": site.login_token(ADMIN)})
    assert answer.status_code == 303 and "secure" in answer.headers["set-cookie"].lower()


def test_redis_holds_only_the_hash_of_a_token_and_an_expired_one_is_refused(site):
    token = site.login_token(ADMIN)
    digest = hashlib.sha256(token.encode()).hexdigest()
    keys = [k.decode() for k in site.rt.redis.keys(f"{KEYS.prefix}admin:login:*")]
    assert keys == [f"{KEYS.prefix}admin:login:{digest}"] and token not in keys[0]
    assert 0 < site.rt.redis.ttl(keys[0]) <= 600
    site.rt.redis.pexpire(keys[0], 1)                                 # Redis expires it as the TTL would
    time.sleep(0.01)
    answer = site.anonymous().get("/admin/login", params={"token": token})
    assert answer.status_code == 401


@pytest.mark.parametrize("token", ["nope", "x" * 500, "", "%00"])
def test_bad_tokens_get_the_page_not_a_session(site, token):
    answer = site.anonymous().get("/admin/login", params={"token": token} if token else None)
    assert answer.status_code == (200 if token == "" else 401)
    assert COOKIE not in answer.headers.get("set-cookie", "")
    assert "/login" in answer.text


def test_a_token_of_someone_without_a_role_opens_nothing(site):
    answer = site.anonymous().get("/admin/login", params={"token": site.login_token(NOBODY)})
    assert answer.status_code == 401 and "set-cookie" not in answer.headers


def test_the_api_refuses_without_a_session_even_for_unknown_paths(site):
    browser = site.anonymous()
    for method, path in (("GET", "/admin/api/me"), ("GET", "/admin/api/no-such-thing"), ("POST", "/admin/api/roles/5"),
                         ("GET", "/admin/api/audit.csv")):
        answer = browser.request(method, path)
        assert answer.status_code == 401, (method, path)
        assert answer.json() == {"ok": False, "error": "not signed in (send /login to the bot)"}
    forged = site.anonymous()
    forged.cookies.set(COOKIE, "made-up-session-id", domain="127.0.0.1", path="/admin")
    assert forged.get("/admin/api/me").status_code == 401


def test_every_admin_answer_carries_the_strict_headers(site):
    for answer in (site.anonymous().get("/admin/api/me"), site.anonymous().get("/admin/login"),
                   site.as_role("viewer").get("/admin/api/me"), site.anonymous().get("/admin/no-such-page"),
                   site.anonymous().post("/admin/login")):
        assert answer.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"


def test_roles_come_from_super_admin_ids_admin_ids_and_grants(site):
    assert {uid: site.signed_in(uid).get("/admin/api/me").json()["role"] for uid in (SUPER, ADMIN, MODERATOR, VIEWER)} \
        == {SUPER: "super_admin", ADMIN: "admin", MODERATOR: "moderator", VIEWER: "viewer"}


def test_a_revoked_grant_stops_its_session_at_once(site):
    viewer = site.as_role("viewer")
    assert viewer.get("/admin/api/me").status_code == 200
    site.store.admin_roles.revoke(VIEWER)
    answer = viewer.get("/admin/api/me")
    assert answer.status_code == 403 and "no admin web role" in answer.json()["error"]


def test_a_route_below_ones_role_is_403(site):
    answer = site.as_role("admin").get("/admin/api/roles")
    assert answer.status_code == 403
    assert answer.json() == {"ok": False, "error": "needs the super_admin role (you are admin)"}
    assert site.as_role("super_admin").get("/admin/api/roles").status_code == 200


@pytest.mark.parametrize("csrf", [None, "", "wrong-token"])
def test_changes_need_the_sessions_csrf_token(site, csrf):
    client = site.as_role("super_admin")
    if csrf is None:
        del client.headers["X-CSRF-Token"]
    else:
        client.headers["X-CSRF-Token"] = csrf
    answer = client.put(f"/admin/api/roles/{NOBODY}", json={"role": "viewer"})
    assert answer.status_code == 403 and "X-CSRF-Token" in answer.json()["error"]
    assert site.store.admin_roles.get(NOBODY) is None and site.audit() == []


def test_another_sessions_csrf_token_does_not_work(site):
    one, two = site.as_role("super_admin"), site.as_role("super_admin")
    one.headers["X-CSRF-Token"] = two.headers["X-CSRF-Token"]
    assert one.put(f"/admin/api/roles/{NOBODY}", json={"role": "viewer"}).status_code == 403
    assert two.put(f"/admin/api/roles/{NOBODY}", json={"role": "viewer"}).status_code == 200


def test_logout_needs_csrf_then_ends_only_that_session(site):
    one, two = site.as_role("admin"), site.as_role("admin")
    csrf = one.headers.pop("X-CSRF-Token")
    refused = one.post("/admin/logout")
    assert refused.status_code == 403 and one.get("/admin/api/me").status_code == 200
    done = one.post("/admin/logout", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/admin/login"
    assert f'{COOKIE}=""' in done.headers["set-cookie"] or "max-age=0" in done.headers["set-cookie"].lower()
    one.cookies.clear()
    assert one.get("/admin/api/me").status_code == 401
    assert two.get("/admin/api/me").status_code == 200
    assert one.get("/admin/login").status_code == 200 and "Send /login" in one.get("/admin/login").text


def test_sessions_expire_with_their_ttl(site):
    client = site.as_role("admin")
    [key] = site.rt.redis.keys(f"{KEYS.prefix}admin:session:*")
    assert 43000 < site.rt.redis.ttl(key) <= 43200
    site.rt.redis.delete(key)                                        # what the TTL does at its end
    assert client.get("/admin/api/me").status_code == 401
