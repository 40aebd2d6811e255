"""Admin web fixtures: the workers' real HTTP server (botrunner.web.server) with handlers.admin_web.http
mounted, in a thread of its own, over the bot's real Runtime on SQLite or mongomock and the session
Redis; httpx clients signed in the way a browser is (a one-time token redeemed at /admin/login).

`site.bot` drives the same Runtime through handlers.app's router (the bot side: /login, the events
the panel stores on users' lanes, which `site.deliver()` hands to the bot as a worker would)."""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import mongomock
import pytest
import redis
import redis.asyncio as aioredis

from botrunner.bot.context import Services
from botrunner.config.settings import load_settings
from botrunner.redis_keys import Keys
from botrunner.web.env import WebEnv
from botrunner.web.server import WebServer, start_web
from handlers.admin_web import http as admin_http
from handlers.app import build_runtime, router
from storage.factory import open_worker_storage, redis_client
from tests.conftest import free_port
from tests.handlers.harness import Bot, FakeApi
from tests.storage.mongomock_compat import accept_newer_pymongo_arguments

accept_newer_pymongo_arguments()

TOKEN = "123456:admin-web-test"
KEYS = Keys.for_token(TOKEN)
SUPER, ADMIN, MODERATOR, VIEWER, NOBODY = 901, 900, 902, 903, 904
ROLE_IDS = {"super_admin": SUPER, "admin": ADMIN, "moderator": MODERATOR, "viewer": VIEWER}
BACKENDS = ["sqlite", "mongomock"]


class Site:
    """The admin web of one worker, served on 127.0.0.1:<port>."""

    def __init__(self, settings, storage, rt, pipeline: redis.Redis) -> None:
        self.settings, self.storage, self.rt, self.store = settings, storage, rt, storage.store
        self.pipeline = pipeline                 # REDIS_DEDUP_DB: the lanes the panel's events go to
        self.port = int(settings.web_listen.rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.bot = Bot(router, rt)
        self.loop = asyncio.new_event_loop()
        self.server: WebServer | None = None
        self.clients: list[httpx.Client] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="admin-web")

    def start(self) -> Site:
        self.thread.start()
        self._wait(self._start())
        return self

    async def _start(self) -> None:
        client = aioredis.Redis.from_url(self.settings.redis_url_for(self.settings.redis_dedup_db))
        env = WebEnv(self.settings, client, KEYS, "test:1:abcd", Services(bot=self.rt, store=self.store))
        self.async_redis = client
        self.server = await start_web(env, [admin_http])

    def _wait(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.server is not None:
            self._wait(self.server.stop())
        self._wait(self.async_redis.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    # ---- clients
    def anonymous(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=20, follow_redirects=False)
        self.clients.append(client)
        return client

    def login_token(self, user_id: int) -> str:
        """What /login puts in the link, issued directly."""
        from handlers.admin_web.auth import LoginTokens
        return LoginTokens(self.rt.redis, KEYS.prefix, self.settings.admin_login_ttl_s).issue(user_id)

    def signed_in(self, user_id: int) -> httpx.Client:
        """A browser-like client after the login link: cookie set, X-CSRF-Token from /me on every call."""
        client = self.anonymous()
        answer = client.get("/admin/login", params={"token": self.login_token(user_id)})
        assert answer.status_code == 303, answer.text
        me = client.get("/admin/api/me")
        assert me.status_code == 200, me.text
        client.headers["X-CSRF-Token"] = me.json()["csrf"]
        return client

    def as_role(self, role: str) -> httpx.Client:
        return self.signed_in(ROLE_IDS[role])

    # ---- what the panel sent through the bot
    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every bot event stored on the lanes so far (oldest first per lane)."""
        found = []
        for lane in range(self.settings.lanes):
            for _, fields in self.pipeline.xrange(KEYS.lane(lane)):
                update = json.loads(fields[b"update"])
                event = update.get("botrunner_event")
                if event and (kind is None or event["kind"] == kind):
                    found.append(update)
        return sorted(found, key=lambda u: -u["update_id"])

    def deliver(self, kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Run every stored event through the bot as the lane would; the Bot API calls it queued."""
        out: list[tuple[str, dict[str, Any]]] = []
        for update in self.events(kind):
            out += self.bot.run(update)
        return out

    # ---- data
    def user(self, user_id: int, **profile: Any):
        user, _ = self.store.users.register(user_id, **{"first_name": f"U{user_id}", **profile})
        return user

    def audit(self, action: str | None = None):
        return self.store.audit.page(limit=200, action=action)


def site_settings(redis_url: str, tmp_path, **env: str):
    port = free_port()
    environ = {"BOT_TOKEN": TOKEN, "REDIS_URL": redis_url, "STATE_DIR": str(tmp_path / "state"),
               "ADMIN_USER_IDS": str(ADMIN), "SUPER_ADMIN_USER_IDS": str(SUPER), "WEB_LISTEN": f"127.0.0.1:{port}",
               "ADMIN_PUBLIC_URL": f"http://127.0.0.1:{port}", "USER_CACHE_SIZE": "0", "LANES": "4",
               "RATE_LIMIT_COMMANDS_PER_MIN": "1000", "CAPTCHA_ENABLED": "false", **env}
    return load_settings(environ=environ, env_file=None)


@pytest.fixture(params=BACKENDS)
def make_site(request, redis_url, tmp_path):
    """make_site(**env) -> a started Site on this test's backend (SQLite file or mongomock)."""
    made: list[Site] = []

    def make(**env: str) -> Site:
        settings = site_settings(redis_url, tmp_path, **env)
        mongo = mongomock.MongoClient() if request.param == "mongomock" else None
        storage = open_worker_storage(settings, mongo)
        rt = build_runtime(settings, storage, redis_client(settings, settings.redis_session_db))
        rt.api.close()
        rt.api = FakeApi()
        storage.store.admin_roles.grant(MODERATOR, "moderator", SUPER)
        storage.store.admin_roles.grant(VIEWER, "viewer", SUPER)
        site = Site(settings, storage, rt, redis.Redis.from_url(settings.redis_url_for(settings.redis_dedup_db)))
        made.append(site.start())
        return site
    yield make
    for site in made:
        site.stop()
        site.pipeline.close()
        site.rt.redis.close()
        site.storage.close()


@pytest.fixture
def site(make_site) -> Iterator[Site]:
    yield make_site()
