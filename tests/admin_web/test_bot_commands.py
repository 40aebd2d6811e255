"""The bot side: /login and /logout_all through handlers.app's router (the gate included), and the
panel's notices delivered from the user's lane."""
from __future__ import annotations

import re

from tests.admin_web.conftest import ADMIN, NOBODY, VIEWER
from tests.handlers.harness import joined

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/admin/login\?token=([A-Za-z0-9_-]+))")


def link_in(out) -> tuple[str, str]:
    match = LINK.search(joined(out))
    assert match, joined(out)
    return match.group(1), match.group(2)


def test_an_admins_login_link_opens_the_panel_once(site):
    out = site.bot.command(ADMIN, "login")
    [(method, params)] = out
    assert method == "sendMessage" and params["chat_id"] == ADMIN
    assert params["link_preview_options"] == {"is_disabled": True}     # a preview fetch would spend the token
    url, _ = link_in(out)
    assert url.startswith(site.settings.admin_public_url + "/admin/login?token=")
    browser = site.anonymous()
    assert browser.get(url).status_code == 303
    assert browser.get("/admin/api/me").json()["id"] == ADMIN
    assert site.anonymous().get(url).status_code == 401


def test_a_granted_viewer_may_log_in_too(site):
    url, _ = link_in(site.bot.command(VIEWER, "login"))
    browser = site.anonymous()
    browser.get(url)
    assert browser.get("/admin/api/me").json()["role"] == "viewer"


def test_someone_without_a_role_gets_the_usual_refusal_and_no_token(site):
    site.user(NOBODY)
    out = site.bot.command(NOBODY, "login")
    assert joined(out) == "⛔ This command is for admins only."
    assert joined(site.bot.command(NOBODY, "logout_all")) == "⛔ This command is for admins only."
    assert site.rt.redis.keys("*admin:login:*") == []


def test_login_says_so_when_the_panel_is_not_set_up(site):
    site.rt.settings = site.rt.settings.replace(admin_public_url="")
    assert "not set up" in joined(site.bot.command(ADMIN, "login"))
    assert site.rt.redis.keys("*admin:login:*") == []


def test_logout_all_ends_every_session_of_that_admin_only(site):
    phone, laptop, other = site.as_role("admin"), site.as_role("admin"), site.as_role("viewer")
    out = site.bot.command(ADMIN, "logout_all")
    assert "2 session(s) ended" in joined(out)
    assert phone.get("/admin/api/me").status_code == 401 and laptop.get("/admin/api/me").status_code == 401
    assert other.get("/admin/api/me").status_code == 200
    assert "0 session(s) ended" in joined(site.bot.command(ADMIN, "logout_all"))


def test_a_login_link_is_never_sent_to_a_group(site):
    out = site.bot.command(ADMIN, "login", chat_type="supergroup", chat_id=-100123)
    assert out == [] and site.rt.redis.keys("*admin:login:*") == []


def test_a_notice_event_reaches_a_banned_user(site):
    site.user(NOBODY)
    site.store.users.ban(NOBODY, "spam")
    from botrunner.bot.events import make_event
    out = site.bot.run(make_event(-1, "admin_web.notice", NOBODY, {"text": "You were banned for spam"}))
    assert out == [("sendMessage", {"chat_id": NOBODY, "text": "You were banned for spam"})]
    assert site.bot.run(make_event(-2, "admin_web.notice", NOBODY, {"text": ""})) == []
