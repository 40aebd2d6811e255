"""Webhook intake on the real HTTP server and the real Redis: 200 only once stored, refusals store nothing."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import redis
from redis.exceptions import SlotNotCoveredError

from botrunner.intake.store import lane_for
from botrunner.intake.webhook import SECRET_HEADER, WEBHOOK_INTAKE
from tests.lane_records import is_seen, seen_ttl
from tests.web.conftest import KEYS, SECRET, serving, update, web_settings


def lane_updates(client: redis.Redis, lanes: int = 8) -> list[dict]:
    found = []
    for n in range(lanes):
        found += [json.loads(fields[b"update"]) for _, fields in client.xrange(KEYS.lane(n))]
    return found


async def post_all(settings, bodies: list, headers: dict | None = None, redis_url: str | None = None,
                   path: str = "/webhook") -> tuple[list[int], dict]:
    async with serving(settings, redis_url) as server, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{server.port}{path}"
        statuses = []
        for body in bodies:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            async with http.post(url, data=data, headers={SECRET_HEADER: SECRET, **(headers or {})}) as resp:
                statuses.append(resp.status)
        intake = server.runner.app[WEBHOOK_INTAKE]
        return statuses, dict(intake.counts)


def test_stored_in_the_chats_lane_then_200_and_a_retry_is_stored_once(redis_url, redis_client):
    settings = web_settings(redis_url)
    statuses, counts = asyncio.run(post_all(settings, [update(10, 501), update(11, 501), update(10, 501)]))
    assert statuses == [200, 200, 200]
    assert counts == {"stored": 2, "duplicate": 1}
    lane = lane_for(update(10, 501), 8)
    stored = [json.loads(fields[b"update"])["update_id"] for _, fields in redis_client.xrange(KEYS.lane(lane))]
    assert stored == [10, 11]
    assert seen_ttl(redis_client, KEYS, 10) > 3600 * 23


def test_missing_or_wrong_secret_is_401_and_nothing_is_stored(redis_url, redis_client):
    settings = web_settings(redis_url)
    wrong, _ = asyncio.run(post_all(settings, [update(20, 502)], headers={SECRET_HEADER: SECRET + "x"}))
    almost, _ = asyncio.run(post_all(settings, [update(21, 502)], headers={SECRET_HEADER: SECRET[:-1]}))
    empty, counts = asyncio.run(post_all(settings, [update(22, 502)], headers={SECRET_HEADER: ""}))
    assert wrong == almost == empty == [401]
    assert lane_updates(redis_client) == [] and not is_seen(redis_client, KEYS, 20)
    assert int(redis_client.hget(KEYS.webhook_rejected, "unauthorized")) == 3 and counts == {"unauthorized": 1}


def test_no_secret_header_at_all_is_401(redis_url, redis_client):
    async def go():
        async with serving(web_settings(redis_url)) as server, aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{server.port}/webhook", json=update(23, 503)) as resp:
                return resp.status
    assert asyncio.run(go()) == 401 and lane_updates(redis_client) == []


def test_malformed_bodies_are_400_and_counted(redis_url, redis_client):
    settings = web_settings(redis_url)
    statuses, counts = asyncio.run(post_all(settings, [b"{not json", b"[1, 2]", {"message": {}}, b"\xff\xfe"]))
    assert statuses == [400, 400, 400, 400]
    assert counts == {"malformed": 4} and int(redis_client.hget(KEYS.webhook_rejected, "malformed")) == 4
    assert lane_updates(redis_client) == []


def test_redis_down_is_503_so_telegram_retries(redis_url, tmp_path):
    settings = web_settings(redis_url, WEBHOOK_RESPONSE_TIMEOUT_MS="500")
    dead = f"unix://{tmp_path}/nobody-listens.sock?db=0"
    statuses, counts = asyncio.run(post_all(settings, [update(30, 504)], redis_url=dead))
    assert statuses == [503] and counts == {"unavailable": 1}


def test_a_cluster_client_without_the_lanes_slot_is_503_too(redis_url):
    """redis-py's cluster client raises SlotNotCoveredError, which is no RedisError, while a failover's
    slot map is re-read: the POST is answered 503 and counted, like Redis down (it was a 500 before)."""
    async def no_slot(entry) -> int:
        raise SlotNotCoveredError('Slot "5" not covered by the cluster. "require_full_coverage=True"')

    async def scenario() -> tuple[int, dict]:
        async with serving(web_settings(redis_url), redis_url) as server, aiohttp.ClientSession() as http:
            intake = server.runner.app[WEBHOOK_INTAKE]
            intake.intake.store = no_slot
            async with http.post(f"http://127.0.0.1:{server.port}/webhook", json=update(31, 505),
                                 headers={SECRET_HEADER: SECRET}) as resp:
                return resp.status, dict(intake.counts)
    assert asyncio.run(scenario()) == (503, {"unavailable": 1})


def test_trusted_networks_checked_on_the_peer_or_a_trusted_proxys_header(redis_url, redis_client):
    telegram = web_settings(redis_url, WEBHOOK_TRUSTED_NETWORKS="149.154.160.0/20,91.108.4.0/22")
    direct, _ = asyncio.run(post_all(telegram, [update(40, 505)]))                 # peer 127.0.0.1: outside
    proxied, _ = asyncio.run(post_all(telegram, [update(41, 505)], headers={"X-Forwarded-For": "149.154.167.99"}))
    forged, _ = asyncio.run(post_all(telegram, [update(42, 505)],
                                     headers={"X-Forwarded-For": "149.154.167.99, 203.0.113.7"}))
    assert (direct, proxied, forged) == ([403], [200], [403])
    no_proxy = web_settings(redis_url, WEBHOOK_TRUSTED_NETWORKS="149.154.160.0/20", WEB_TRUSTED_PROXIES="10.0.0.0/8")
    spoofed, _ = asyncio.run(post_all(no_proxy, [update(43, 505)], headers={"X-Forwarded-For": "149.154.167.99"}))
    assert spoofed == [403]                               # the peer is no trusted proxy: its header means nothing
    assert [u["update_id"] for u in lane_updates(redis_client)] == [41]
    assert int(redis_client.hget(KEYS.webhook_rejected, "untrusted")) == 3


def test_webhook_path_is_configurable(redis_url):
    settings = web_settings(redis_url, WEBHOOK_PATH="/tg/hook-7")
    moved, _ = asyncio.run(post_all(settings, [update(50, 506)], path="/tg/hook-7"))
    old, _ = asyncio.run(post_all(settings, [update(51, 506)], path="/webhook"))
    assert (moved, old) == ([200], [404])


def test_concurrent_posts_share_script_calls_and_each_waits_for_its_own(redis_url, redis_client):
    settings = web_settings(redis_url)

    async def go():
        async with serving(settings) as server, aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.port}/webhook"

            async def one(n: int) -> int:
                async with http.post(url, json=update(200 + n, 700 + n % 7), headers={SECRET_HEADER: SECRET}) as r:
                    assert is_seen(redis_client, KEYS, 200 + n), "answered before it was stored"
                    return r.status
            statuses = await asyncio.gather(*(one(n) for n in range(60)), one(0))   # update 200 twice at once
            coalescer = server.runner.app[WEBHOOK_INTAKE].intake
            return statuses, coalescer.calls, dict(coalescer.counts)
    statuses, calls, counts = asyncio.run(go())
    assert statuses == [200] * 61 and calls <= 40, calls   # 1 here when idle
    assert counts == {"stored": 60, "duplicate": 1}
    assert sorted(u["update_id"] for u in lane_updates(redis_client)) == list(range(200, 260))
