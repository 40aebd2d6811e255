"""Web features a bot brings (Router.web_feature): merged over the router tree, mounted by the worker
after the runner's own, and only when enabled."""
from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from botrunner.bot.router import Router
from botrunner.web.env import WebEnv
from botrunner.worker.heartbeat import HeartbeatFile
from botrunner.worker.process import Worker
from tests.web.conftest import KEYS, web_settings


def feature(path: str, on: bool = True):
    """A feature module stand-in answering GET `path` with its own path."""
    class Feature:
        @staticmethod
        def enabled(settings) -> bool:
            return on

        @staticmethod
        def mount(app: web.Application, env: WebEnv) -> None:
            async def answer(request: web.Request) -> web.Response:
                return web.Response(text=path)
            app.router.add_get(path, answer)
    Feature.__name__ = f"feature{path.replace('/', '_')}"
    return Feature


def test_included_routers_features_are_merged_into_the_root_once_each():
    root, child, grandchild = Router("root"), Router("child"), Router("grandchild")
    a, b, c = feature("/a"), feature("/b"), feature("/c")
    root.web_feature(a)
    child.web_feature(b)
    grandchild.web_feature(c)
    grandchild.web_feature(a)          # registered twice in the tree: mounted once
    child.include_router(grandchild)
    root.include_router(child)
    assert root.web_features == [a, b, c]
    assert child.web_features == [b, c, a]
    assert Router("bare").web_features == []


def test_the_worker_mounts_the_bots_enabled_features_next_to_the_runners(redis_url):
    root, child = Router("root"), Router("child")
    child.web_feature(feature("/admin/ping"))
    child.web_feature(feature("/off", on=False))
    root.include_router(child)
    settings = web_settings(redis_url)                 # webhook mode: the runner mounts webhook + metrics
    worker = Worker(settings, HeartbeatFile(), 1)
    worker.router = root

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            await worker._start_web(WebEnv(settings, client, KEYS, "test:1:abcd"))
            assert worker.web is not None
            base = f"http://127.0.0.1:{worker.web.port}"
            async with aiohttp.ClientSession() as http:
                statuses = {}
                for path in ("/admin/ping", "/off", "/healthz"):
                    async with http.get(base + path) as resp:
                        statuses[path] = (resp.status, await resp.text() if resp.status == 200 and
                                          path != "/healthz" else "")
            return statuses
        finally:
            if worker.web is not None:
                await worker.web.stop()
            await client.aclose()
    statuses = asyncio.run(go())
    assert statuses["/admin/ping"] == (200, "/admin/ping")
    assert statuses["/off"][0] == 404                 # disabled: not mounted
    assert statuses["/healthz"][0] == 200             # the runner's own features are still there
