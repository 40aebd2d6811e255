"""The metrics feature on the workers' web server (webhook mode): health and metrics mounted, webhook
intake counted by source and type, duplicates and malformed bodies too."""
from __future__ import annotations

import asyncio
import json

import aiohttp
from prometheus_client import REGISTRY

from botrunner.intake.webhook import SECRET_HEADER
from botrunner.metrics import http
from tests.web.conftest import SECRET, serving, update, web_settings


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def exchange(settings, redis_url, posts: list) -> dict[str, tuple[int, str]]:
    async with serving(settings, redis_url) as server, aiohttp.ClientSession() as client:
        base = f"http://127.0.0.1:{server.port}"
        for body in posts:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            async with client.post(base + "/webhook", data=data, headers={SECRET_HEADER: SECRET}) as resp:
                assert resp.status in (200, 400)
        answers = {}
        for path in ("/healthz", "/readyz", "/metrics"):
            async with client.get(base + path) as resp:
                answers[path] = (resp.status, await resp.text())
        return answers


def test_webhook_mode_mounts_health_and_metrics_and_counts_webhook_intake(redis_url):
    settings = web_settings(redis_url)
    assert http.enabled(settings) and not http.enabled(web_settings(redis_url, USE_WEBHOOK="false"))
    before = (sample("botrunner_updates_received_total", source="webhook", type="message"),
              sample("botrunner_updates_duplicate_total", source="webhook"),
              sample("botrunner_updates_rejected_total", source="webhook"))
    answers = asyncio.run(exchange(settings, redis_url, [update(30, 701), update(31, 701), update(30, 701),
                                                         b"not json"]))
    after = (sample("botrunner_updates_received_total", source="webhook", type="message"),
             sample("botrunner_updates_duplicate_total", source="webhook"),
             sample("botrunner_updates_rejected_total", source="webhook"))
    assert [a - b for a, b in zip(after, before)] == [3, 1, 1]    # received counts what Telegram sent
    assert answers["/healthz"][0] == 200
    assert answers["/readyz"][0] == 200 and '"poll": "not checked"' in answers["/readyz"][1]
    assert answers["/metrics"][0] == 200 and "botrunner_redis_up 1.0" in answers["/metrics"][1]
    assert "botrunner_poll_last_success_age_seconds" not in answers["/metrics"][1]


def test_with_metrics_listen_the_webhook_server_keeps_health_only(redis_url):
    settings = web_settings(redis_url, METRICS_LISTEN="127.0.0.1:1")
    answers = asyncio.run(exchange(settings, redis_url, []))
    assert answers["/healthz"][0] == 200 and answers["/metrics"][0] == 404
