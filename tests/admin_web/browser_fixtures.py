"""The admin panel in a real browser against the real bot: `botrunner start` (two workers, their HTTP
server with the admin web) on SQLite and Redis against the local Bot API server, and headless
chromium (tests/browser.py) signed in the way an operator signs in: /login sent to the bot, the link
read from the bot's message as Telegram delivered it, opened in the browser.

`Panel` is what an operator does on the pages (open a screen, fill a form, confirm the dialog, read a
table); it waits on what the page shows, never on fixed sleeps.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import Artifacts, full_page_screenshot, start_chromium
from tests.conftest import free_port
from tests.handlers.live import ADMIN, LiveBot, live_bot, text_of
from tests.runner.conftest import wait_until

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/admin/login\?token=[A-Za-z0-9_-]+)")
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
TIMEOUT = 30.0
ENV = {"CAPTCHA_ENABLED": "false", "RATE_LIMIT_COMMANDS_PER_MIN": "1000", "RATE_LIMIT_SENSITIVE_PER_HOUR": "1000",
       "TASK_TWITTER_PROFILE": "https://x.com/botrunner", "SUPER_ADMIN_USER_IDS": str(ADMIN),
       "SEND_GLOBAL_RATE": "5"}                           # a broadcast to 15 takes seconds: its bar is seen moving


class Live:
    """The running bot and the panel's address."""

    def __init__(self, bot: LiveBot, base: str) -> None:
        self.bot = bot
        self.base = base

    def login_link(self, uid: int) -> str:
        """Send /login as `uid`; the link in the bot's answer."""
        after = self.bot.last_index(uid)
        self.bot.command(uid, "login")
        match = LINK.search(text_of(self.bot.wait(uid, "/admin/login?token=", after)))
        assert match
        return match.group(1)


@pytest.fixture(scope="module")
def live(redis_server, tmp_path_factory) -> Iterator[Live]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**ENV, "WEB_LISTEN": f"127.0.0.1:{port}", "ADMIN_PUBLIC_URL": base}
    with live_bot(redis_server.url, tmp_path_factory.mktemp("admin-panel"), **env) as bot:
        wait_until(lambda: _serving(base + "/admin/login"), 60, 0.2, what="the admin web")
        bot.enter(ADMIN)                                      # the admin is a user too (a name on the pages)
        yield Live(bot, base)


def _serving(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Panel:
    """One browser on the panel."""

    def __init__(self, driver, live: Live) -> None:
        self.driver = driver
        self.live = live

    # ---- signing in and moving around

    def sign_in(self, uid: int = ADMIN) -> None:
        self.driver.delete_all_cookies()
        self.driver.get(self.live.login_link(uid))
        self.ready()

    def open(self, path: str) -> None:
        self.driver.get(self.live.base + path)
        self.ready()

    def ready(self) -> None:
        """The page asked /admin/api/me and started its screen."""
        wait_until(lambda: self.js("return document.body.dataset.ready === '1'"), TIMEOUT, 0.1, what="the panel page")

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str) -> bool:
        return any(e.is_displayed() for e in self.all(css))

    # ---- forms, the confirmation dialog, feedback

    def fill(self, form: str, **values: str) -> None:
        for name, value in values.items():
            field = self.find(f"{form} [name={name}]")
            field.clear()
            field.send_keys(value)

    def submit(self, form: str) -> None:
        self.find(f"{form} [type=submit]").click()

    def confirm(self, **fields: str) -> str:
        """Wait for the confirmation dialog, fill its fields, press Confirm; returns the question asked."""
        wait_until(lambda: self.js("return document.getElementById('ask').open"), TIMEOUT, 0.1, what="the confirmation")
        question = self.find("#ask-text").text
        self.fill("#ask", **fields)
        self.find("#ask-ok").click()
        return question

    def flash(self, needle: str) -> str:
        wait_until(lambda: needle in self.js("return document.getElementById('flash').textContent"), TIMEOUT, 0.1,
                   what=f"{needle!r} on the page")
        return self.js("return document.getElementById('flash').textContent")

    def rows(self, table: str) -> list[str]:
        return self.js("return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'), r => r.innerText)", table)

    def wait_row(self, table: str, needle: str) -> str:
        return wait_until(lambda: next((r for r in self.rows(table) if needle in r), None), TIMEOUT, 0.1,
                          what=f"a row with {needle!r} in {table}")

    def shoot(self, name: str, width: int = 1280) -> None:
        """docs/images/admin-<name>.png when ADMIN_DOCS_SCREENSHOTS=1 (the docs' pictures come from this test)."""
        if os.environ.get("ADMIN_DOCS_SCREENSHOTS") == "1":
            full_page_screenshot(self.driver, DOCS_IMAGES / f"admin-{name}.png", width)


@pytest.fixture
def panel(request, live) -> Iterator[Panel]:
    artifacts = Artifacts(request)
    driver = start_chromium()
    try:
        yield Panel(driver, live)
    finally:
        artifacts.save(driver)
        driver.quit()
