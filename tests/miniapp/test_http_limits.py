"""The Mini App's limits on the workers' HTTP server (in process, real Redis): MINIAPP_RATE_LIMIT_MAX
per client IP, attempts per account, new accounts per IP per day, the in-flight cap; and bot
events landing on their user's lane."""
from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import redis.asyncio as aioredis

from botrunner.bot.events import event_of
from botrunner.intake.events import store_event
from botrunner.intake.store import lane_for
from botrunner.web.server import FEATURES
from tests.miniapp.live import DEVICE, human_trace
from tests.web.conftest import KEYS, TOKEN, serving, web_settings

MINIAPP = {"USE_WEBHOOK": "false", "MINIAPP_URL": "https://mini.example.org/miniapp/", "FINGERPRINT_SALT": "p",
           "WEB_TRUSTED_PROXIES": "127.0.0.1/32"}


def init_for(user_id: int) -> str:
    from tests.miniapp.live import sign_init_data
    return sign_init_data(user_id, token=TOKEN)


async def solve(http: httpx.AsyncClient, base: str, redis_url: str, user_id: int, ip: str,
                device: dict | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": ip}
    init = init_for(user_id)
    challenge = (await http.post(f"{base}/api/session", json={"init_data": init}, headers=headers)).json()
    client = aioredis.Redis.from_url(redis_url)
    target = json.loads(await client.get(f"{KEYS.prefix}miniapp:challenge:{challenge['challenge_id']}"))["target"]
    await client.aclose()
    return await http.post(f"{base}/api/verify", headers=headers, json={
        "init_data": init, "challenge_id": challenge["challenge_id"], "position": target,
        "trace": human_trace(target), "fingerprint": device or DEVICE})


def test_the_mini_app_is_a_feature_of_the_web_server():
    assert any(getattr(f, "__name__", "") == "botrunner.miniapp.http" for f in FEATURES)


def test_rate_limit_per_client_ip(redis_url):
    async def go() -> None:
        settings = web_settings(redis_url, **MINIAPP, MINIAPP_RATE_LIMIT_MAX="3")
        async with serving(settings) as server, httpx.AsyncClient() as http:
            base = f"http://127.0.0.1:{server.port}/miniapp"
            codes = [(await http.get(base + "/", headers={"X-Forwarded-For": "10.0.0.1"})).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            assert (await http.get(base + "/", headers={"X-Forwarded-For": "10.0.0.2"})).status_code == 200
    asyncio.run(go())


def test_attempts_per_account_are_capped(redis_url):
    async def go() -> None:
        settings = web_settings(redis_url, **MINIAPP, MINIAPP_ATTEMPTS_PER_USER="2", MINIAPP_REPEAT_WINDOW_S="0")
        async with serving(settings) as server, httpx.AsyncClient() as http:
            base = f"http://127.0.0.1:{server.port}/miniapp"
            codes = [(await solve(http, base, redis_url, 41, f"10.0.1.{i}")).status_code for i in range(3)]
            assert codes == [200, 200, 429]
    asyncio.run(go())


def test_new_accounts_per_ip_per_day_are_capped(redis_url):
    async def go() -> None:
        settings = web_settings(redis_url, **MINIAPP, MINIAPP_REGISTRATIONS_PER_IP_PER_DAY="2", MINIAPP_REPEAT_WINDOW_S="0")
        async with serving(settings) as server, httpx.AsyncClient() as http:
            base = f"http://127.0.0.1:{server.port}/miniapp"
            assert (await solve(http, base, redis_url, 51, "10.0.2.1")).status_code == 200
            assert (await solve(http, base, redis_url, 52, "10.0.2.1")).status_code == 200
            refused = await solve(http, base, redis_url, 53, "10.0.2.1")
            assert refused.status_code == 429 and "new accounts" in refused.json()["error"]
            assert (await solve(http, base, redis_url, 51, "10.0.2.1")).status_code == 200    # a known account
            assert (await solve(http, base, redis_url, 53, "10.0.2.9")).status_code == 200    # another network
    asyncio.run(go())


def test_requests_past_the_in_flight_cap_get_503(redis_url):
    async def go() -> None:
        settings = web_settings(redis_url, **MINIAPP, MINIAPP_MAX_CONNECTIONS="1")
        async with serving(settings) as server, httpx.AsyncClient() as http:
            base = f"http://127.0.0.1:{server.port}/miniapp"
            client = aioredis.Redis.from_url(redis_url)
            await client.client_pause(800)                                  # the first request waits on Redis
            first = asyncio.create_task(http.get(base + "/", headers={"X-Forwarded-For": "10.0.3.1"}))
            await asyncio.sleep(0.3)
            second = await http.get(base + "/", headers={"X-Forwarded-For": "10.0.3.2"})
            assert second.status_code == 503
            assert (await first).status_code == 200
            await client.aclose()
    asyncio.run(go())


def test_an_event_lands_on_the_lane_of_its_user(redis_url):
    async def go() -> None:
        client = aioredis.Redis.from_url(redis_url)
        lanes = 8
        user = 424242
        message = {"update_id": 1, "message": {"message_id": 1, "date": int(time.time()), "text": "hi",
                                               "from": {"id": user, "is_bot": False, "first_name": "A"},
                                               "chat": {"id": user, "type": "private"}}}
        ids = [await store_event(client, KEYS, lanes, "miniapp.verified", user, {"n": n}) for n in range(2)]
        assert ids == [-1, -2]                                               # their own (negative) id space
        entries = await client.xrange(KEYS.lane(lane_for(message, lanes)))
        stored = [json.loads(fields[b"update"]) for _, fields in entries]
        assert [event_of(u)["data"]["n"] for u in stored] == [0, 1]          # in order, on the user's lane
        assert all(u["update_id"] < 0 for u in stored)
        await client.aclose()
    asyncio.run(go())


@pytest.mark.parametrize("env, on", [({}, True), ({"MINIAPP_CAPTCHA_ENABLED": "false"}, False),
                                     ({"MINIAPP_URL": ""}, False)])
def test_the_feature_is_mounted_only_when_the_mini_app_is_on(redis_url, env, on):
    from botrunner.miniapp import http as feature
    assert feature.enabled(web_settings(redis_url, **{**MINIAPP, **env})) is on


def test_fingerprint_salt_is_required_when_the_mini_app_is_on(redis_url):
    from botrunner.config.settings import ConfigError
    with pytest.raises(ConfigError, match="FINGERPRINT_SALT"):
        web_settings(redis_url, **{**MINIAPP, "FINGERPRINT_SALT": ""})
