"""The login flow end to end: `botrunner start` (two workers, their HTTP server with the admin web)
against the local Bot API server. An admin sends /login, the link is taken from the bot's message as
Telegram delivered it, opened once (303 + cookie), a second time (401); an expired link is 401;
/logout_all ends every session; a non-admin's /login is refused."""
from __future__ import annotations

import hashlib
import re
import time

import httpx
import pytest
import redis

from botrunner.config.settings import load_settings
from handlers.admin_web.api import COOKIE
from tests.conftest import free_port
from tests.handlers.live import ADMIN, live_bot, text_of
from tests.runner.conftest import KEYS, wait_until

pytestmark = pytest.mark.slow
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/admin/login\?token=[A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def live(redis_server, tmp_path_factory):
    port = free_port()
    env = {"CAPTCHA_ENABLED": "false", "WEB_LISTEN": f"127.0.0.1:{port}", "ADMIN_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "RATE_LIMIT_COMMANDS_PER_MIN": "1000"}
    with live_bot(redis_server.url, tmp_path_factory.mktemp("admin-login"), **env) as bot:
        wait_until(lambda: _serving(f"http://127.0.0.1:{port}/admin/login"), 60, 0.2, what="the admin web")
        yield bot


def _serving(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def fresh_link(bot) -> str:
    """Send /login as the admin; the link in the bot's answer."""
    after = bot.last_index(ADMIN)
    bot.command(ADMIN, "login")
    entry = bot.wait(ADMIN, "/admin/login?token=", after)
    match = LINK.search(text_of(entry))
    assert match, text_of(entry)
    return match.group(1)


def session_db(bot) -> redis.Redis:
    settings = load_settings(environ={"REDIS_URL": bot.cluster.redis_url}, env_file=None)
    return redis.Redis.from_url(settings.redis_url_for(settings.redis_session_db))


def test_the_link_from_the_bots_message_opens_the_panel_once(live):
    link = fresh_link(live)
    with httpx.Client(follow_redirects=False, timeout=15) as browser:
        first = browser.get(link)
        assert first.status_code == 303 and first.headers["location"] == "/admin/"
        assert first.headers["set-cookie"].startswith(f"{COOKIE}=")
        me = browser.get(link.split("/admin/")[0] + "/admin/api/me")
        assert me.status_code == 200 and me.json()["id"] == ADMIN and me.json()["role"] == "admin"
    with httpx.Client(follow_redirects=False, timeout=15) as other:
        second = other.get(link)
        assert second.status_code == 401 and "send /login to the bot again" in second.text


def test_an_expired_link_is_refused(live):
    link = fresh_link(live)
    token = link.split("token=", 1)[1]
    key = f"{KEYS.prefix}admin:login:{hashlib.sha256(token.encode()).hexdigest()}"
    sessions = session_db(live)                        # tokens and sessions live on REDIS_SESSION_DB
    assert sessions.pexpire(key, 1)                    # as ADMIN_LOGIN_TTL_S running out does
    sessions.close()
    time.sleep(0.01)
    assert httpx.get(link, timeout=15, follow_redirects=False).status_code == 401


def test_logout_all_ends_every_session(live):
    base = fresh_link(live).split("/admin/")[0]
    browsers = [httpx.Client(follow_redirects=False, timeout=15) for _ in range(2)]
    try:
        for browser in browsers:
            assert browser.get(fresh_link(live)).status_code == 303
            assert browser.get(base + "/admin/api/me").status_code == 200
        after = live.last_index(ADMIN)
        live.command(ADMIN, "logout_all")
        live.wait(ADMIN, "Signed out of the admin panel everywhere", after)
        for browser in browsers:
            assert browser.get(base + "/admin/api/me").status_code == 401
    finally:
        for browser in browsers:
            browser.close()


def test_a_non_admins_login_is_refused(live):
    live.enter(4242)
    after = live.last_index(4242)
    injected = live.command(4242, "login")
    live.wait(4242, "This command is for admins only", after)
    live.completed(injected)
    assert live.find(4242, "/admin/login", after) is None


def test_a_dm_from_the_panel_reaches_the_user_through_the_workers(live):
    live.enter(4343)
    base = fresh_link(live).split("/admin/")[0]
    with httpx.Client(follow_redirects=False, timeout=15) as browser:
        assert browser.get(fresh_link(live)).status_code == 303
        csrf = browser.get(base + "/admin/api/me").json()["csrf"]
        after = live.last_index(4343)
        sent = browser.post(base + "/admin/api/users/4343/message", json={"text": "Hello from the panel"},
                            headers={"X-CSRF-Token": csrf})
        assert sent.status_code == 200 and sent.json() == {"ok": True, "queued": True}
        live.wait(4343, "Hello from the panel", after)
        banned = browser.post(base + "/admin/api/users/4343/ban", json={"reason": "test", "duration_s": 3600},
                              headers={"X-CSRF-Token": csrf})
        assert banned.status_code == 200
        live.wait(4343, "You are banned. Reason: test", after)
    assert live.count(4343, "Hello from the panel", after) == 1
