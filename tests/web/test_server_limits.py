"""The workers' HTTP server: mounted only with a feature, SO_REUSEPORT, body cap, slow clients, connection cap."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from botrunner.intake.webhook import SECRET_HEADER
from botrunner.web import server as web_server
from botrunner.web.env import WebEnv
from tests.lane_records import is_seen
from tests.web.conftest import KEYS, SECRET, serving, update, web_settings


def test_nothing_enabled_means_no_server(redis_url):
    settings = web_settings(redis_url, USE_WEBHOOK="false")

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await web_server.start_web(WebEnv(settings, client, KEYS, "w"))
        finally:
            await client.aclose()
    assert web_server.enabled_features(settings) == []
    assert asyncio.run(go()) is None


class Hello:
    """A feature module stand-in: what the registry asks of one."""

    @staticmethod
    def enabled(settings) -> bool:
        return True

    @staticmethod
    def mount(app: web.Application, env: WebEnv) -> None:
        async def hello(request: web.Request) -> web.Response:
            return web.Response(text=f"hello from {env.worker_id}")
        app.router.add_get("/hello", hello)


def test_features_mount_their_routes(redis_url):
    async def go():
        async with serving(web_settings(redis_url, USE_WEBHOOK="false"), features=[Hello]) as server:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{server.port}/hello") as resp:
                    return await resp.text()
    assert asyncio.run(go()) == "hello from test:1:abcd"


def test_two_servers_share_a_port_with_so_reuseport(redis_url):
    settings = web_settings(redis_url)

    async def go():
        async with serving(settings) as one, serving(settings) as two:
            assert one.port == two.port
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
                statuses = []
                for n in range(20):
                    async with http.post(f"http://127.0.0.1:{one.port}/webhook", json=update(100 + n, 600 + n),
                                         headers={SECRET_HEADER: SECRET}) as resp:
                        statuses.append(resp.status)
            return statuses
    assert asyncio.run(go()) == [200] * 20


def test_body_over_the_cap_is_413(redis_url, redis_client):
    settings = web_settings(redis_url, WEB_MAX_BODY_BYTES="2048")
    big = update(60, 601, text="x" * 4000)

    async def go():
        async with serving(settings) as server, aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{server.port}/webhook", data=json.dumps(big),
                                 headers={SECRET_HEADER: SECRET}) as resp:
                return resp.status
    assert asyncio.run(go()) == 413 and not is_seen(redis_client, KEYS, 60)


async def _trickle(port: int, first: bytes, wait: float) -> bytes:
    """Send `first`, then nothing; return what the server sent before it closed (b'' if it just cut us off)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()


def test_slow_headers_are_cut_off(redis_url):
    settings = web_settings(redis_url, WEB_HEADER_TIMEOUT_S="0.5")

    async def go():
        async with serving(settings) as server:
            answer = await _trickle(server.port, b"POST /webhook HTTP/1.1\r\nHost: x\r\n", wait=10)
            return answer, server.guard.cut_slow
    answer, cut = asyncio.run(go())
    assert (answer, cut) == (b"", 1)


def test_slow_body_gets_408(redis_url, redis_client):
    settings = web_settings(redis_url, WEB_READ_TIMEOUT_S="0.5")
    head = (f"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{SECRET_HEADER}: {SECRET}\r\n"
            "Content-Length: 500\r\n\r\n{\"update_id\": 70").encode()

    async def go():
        async with serving(settings) as server:
            return await _trickle(server.port, head, wait=10)
    assert asyncio.run(go()).startswith(b"HTTP/1.1 408") and not is_seen(redis_client, KEYS, 70)


def test_connections_past_the_cap_are_closed_at_once(redis_url):
    settings = web_settings(redis_url, WEB_MAX_CONNECTIONS="2")

    async def go():
        async with serving(settings) as server:
            held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
            await asyncio.sleep(0.1)
            third = await _trickle(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", wait=10)
            for _, writer in held:
                writer.close()
            await asyncio.sleep(0.1)
            fourth = await _trickle(server.port, b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                    wait=10)
            return third, fourth, server.guard.refused
    third, fourth, refused = asyncio.run(go())
    assert third == b"" and refused == 1
    assert fourth.startswith(b"HTTP/1.1 404")          # below the cap again: served


def test_stopping_server_refuses_new_requests_on_open_connections(redis_url, redis_client):
    settings = web_settings(redis_url)

    async def go():
        async with serving(settings) as server, aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.port}/webhook"
            async with http.post(url, json=update(80, 608), headers={SECRET_HEADER: SECRET}) as resp:
                first = resp.status
            server.draining.set()          # what stop() does first, before closing connections
            async with http.post(url, json=update(81, 608), headers={SECRET_HEADER: SECRET}) as resp:
                return first, resp.status
    assert asyncio.run(go()) == (200, 503)
    assert is_seen(redis_client, KEYS, 80)
    assert not is_seen(redis_client, KEYS, 81)


def test_port_taken_sees_a_reuseport_listener():
    from botrunner.web.server import listening_socket, port_taken
    from tests.conftest import free_port
    port = free_port()
    assert not port_taken("127.0.0.1", port)
    sock = listening_socket("127.0.0.1", port)
    try:
        assert port_taken("127.0.0.1", port)
        listening_socket("127.0.0.1", port).close()   # ... while a sibling worker can still bind it
    finally:
        sock.close()
    assert not port_taken("127.0.0.1", port)
