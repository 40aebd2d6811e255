"""The panel's pages over HTTP (no browser): each screen for each role (200, or the 403 page below
its role), the navigation a role gets, the send-/login redirect without a session, texts in both
languages with every template rendered strictly, and the static files with the strict headers."""
from __future__ import annotations

import json
import re

import pytest

from handlers.admin_web.http import CSP
from handlers.admin_web.panel import SCREENS
from handlers.texts import BUILTIN

RANK = ["viewer", "moderator", "admin", "super_admin"]
PAGES = [(s.name, s.path.replace(r"{id:\d+}", "777"), s.role) for s in SCREENS]


def texts_of(html: str) -> dict[str, str]:
    raw = re.search(r"data-texts='([^']*)'", html)
    assert raw, "no texts on the page"
    return json.loads(raw.group(1).replace("&#34;", '"').replace("&amp;", "&"))


@pytest.mark.parametrize("role", RANK)
def test_each_screen_opens_for_its_roles_and_refuses_below(site, role):
    site.user(777)
    client = site.as_role(role)
    for name, path, needed in PAGES:
        answer = client.get("/admin" + path)
        if RANK.index(role) >= RANK.index(needed):
            assert answer.status_code == 200, (name, answer.text[:200])
            assert f'data-screen="{name}"' in answer.text and f'data-role="{role}"' in answer.text
        else:
            assert answer.status_code == 403 and "Your role cannot open this screen." in answer.text, name
        assert answer.headers["content-security-policy"] == CSP


@pytest.mark.parametrize("role", RANK)
def test_the_navigation_lists_only_what_the_role_opens(site, role):
    html = site.as_role(role).get("/admin/").text
    links = re.findall(r'<nav class="nav">(.*?)</nav>', html, re.S)[0]
    shown = set(re.findall(r'href="/admin(/[a-z]*)"', links))
    assert shown == {s.path for s in SCREENS if s.nav and RANK.index(role) >= RANK.index(s.role)}


def test_admin_only_forms_are_not_rendered_for_a_moderator(site):
    site.user(777)
    moderator, admin = site.as_role("moderator"), site.as_role("admin")
    assert 'id="points-form"' in moderator.get("/admin/users/777").text
    assert 'id="reset"' not in moderator.get("/admin/users/777").text and 'id="reset"' in admin.get("/admin/users/777").text
    assert 'id="compose"' not in moderator.get("/admin/broadcasts").text
    assert 'id="compose"' in admin.get("/admin/broadcasts").text
    assert 'id="export-users"' not in moderator.get("/admin/users").text


def test_without_a_session_a_page_is_a_redirect_to_the_login_hint(site):
    client = site.anonymous()
    for _, path, _ in PAGES:
        answer = client.get("/admin" + path)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"
        assert "data-texts" not in answer.text


@pytest.mark.parametrize("lang, nav", [("en", "Users"), ("ru", "Пользователи")])
def test_pages_and_the_scripts_texts_are_in_the_browsers_language(site, lang, nav):
    site.user(777)
    client = site.as_role("super_admin")
    for _, path, _ in PAGES:
        html = client.get("/admin" + path, headers={"Accept-Language": f"{lang}-XX,{lang};q=0.9"}).text
        assert f'<html lang="{lang}">' in html and nav in html
    catalog = json.loads((BUILTIN / f"{lang}.json").read_text(encoding="utf-8"))
    shipped = texts_of(client.get("/admin/", headers={"Accept-Language": lang}).text)
    assert shipped == {k[len("panel_"):]: v for k, v in catalog.items() if k.startswith("panel_")}


def test_an_unknown_language_falls_back_to_english(site):
    html = site.as_role("admin").get("/admin/?lang=xx").text
    assert '<html lang="en">' in html and "Dashboard" in html


def test_every_text_the_script_uses_exists(site):
    """admin.js looks texts up by name (t("...")); a name missing from the catalog would show raw."""
    from handlers.admin_web.panel import STATIC
    script = (STATIC / "admin.js").read_text()
    used = {name for name in re.findall(r'\bt\("([a-z_]+)"', script) if not name.endswith("_")}
    prefixed = set(re.findall(r'\bt\("([a-z_]+_)" \+', script))                 # t("do_" + action) and kin
    catalog = texts_of(site.as_role("admin").get("/admin/").text)
    assert used and sorted(used - set(catalog)) == []
    assert all(any(key.startswith(p) for key in catalog) for p in prefixed)


def test_static_files_are_served_with_the_strict_headers_and_versioned(site):
    client = site.anonymous()
    page = site.as_role("admin").get("/admin/").text
    version = re.search(r"/admin/static/admin\.js\?v=([0-9a-f]+)", page).group(1)
    for name, kind in (("admin.js", "javascript"), ("admin.css", "text/css")):
        answer = client.get(f"/admin/static/{name}?v={version}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"]
        assert answer.headers["content-security-policy"] == CSP and answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/admin/static/../panel.py").status_code == 404
