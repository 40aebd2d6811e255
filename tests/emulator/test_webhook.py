"""Webhooks: setWebhook texts and rate limit, delivery with the secret header, retries, order, concurrency."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiohttp import web

from tests.conftest import free_port

Reply = Callable[[web.Request, dict], Awaitable[web.Response]]


class Receiver:
    """A tiny bot-side webhook endpoint recording every POST (runs in the test's event loop)."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.reply = reply
        self.active = 0
        self.max_active = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            update = await request.json()
            self.posts.append((dict(request.headers), update))
            return await self.reply(request, update) if self.reply else web.Response(text="ok")
        finally:
            self.active -= 1

    async def __aenter__(self) -> "Receiver":
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count:
            assert time.monotonic() < deadline, f"only {len(self.posts)} of {count} webhook posts arrived"
            await asyncio.sleep(0.02)


def _api(url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{url}/bot{token}/", timeout=30)


def test_set_webhook_texts_and_rate_limit(api):
    first = api.post("setWebhook", json={"url": "http://127.0.0.1:9/a", "secret_token": "s3cr3t"}).json()
    assert first == {"ok": True, "result": True, "description": "Webhook was set"}
    too_fast = api.post("setWebhook", json={"url": "http://127.0.0.1:9/a", "secret_token": "s3cr3t"})
    assert too_fast.status_code == 429
    assert too_fast.json() == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                               "parameters": {"retry_after": 1}}
    time.sleep(1.05)
    again = api.post("setWebhook", json={"url": "http://127.0.0.1:9/a", "secret_token": "s3cr3t"}).json()
    assert again["description"] == "Webhook is already set"
    info = api.get("getWebhookInfo").json()["result"]
    assert (info["url"], info["max_connections"], info["pending_update_count"]) == ("http://127.0.0.1:9/a", 40, 0)
    assert api.post("deleteWebhook").json()["description"] == "Webhook was deleted"
    assert api.post("deleteWebhook").json()["description"] == "Webhook is already deleted"
    assert api.get("getWebhookInfo").json()["result"]["url"] == ""


def test_secret_token_is_validated(api):
    response = api.post("setWebhook", json={"url": "http://127.0.0.1:9/a", "secret_token": "has space"})
    assert (response.status_code, response.json()["description"]) == (
        400, "Bad Request: secret token contains unallowed characters")


async def _delivery(url: str, token: str, control) -> tuple[Receiver, dict]:
    async with Receiver() as receiver, _api(url, token) as api:
        await api.post("setWebhook", json={"url": receiver.url, "secret_token": "topsecret"})
        await asyncio.to_thread(control.inject_message, token, 300, "one")
        await asyncio.to_thread(control.inject_command, token, 300, "start")
        await receiver.wait_for(2)
        await asyncio.sleep(0.1)
        info = (await api.get("getWebhookInfo")).json()["result"]
        await api.post("deleteWebhook")
        return receiver, info


def test_delivery_posts_one_update_with_the_secret_header(emulator, control, token):
    receiver, info = asyncio.run(_delivery(emulator.url, token, control))
    assert [headers.get("X-Telegram-Bot-Api-Secret-Token") for headers, _ in receiver.posts] == ["topsecret"] * 2
    assert [update["message"]["text"] for _, update in receiver.posts] == ["one", "/start"]
    assert [update["update_id"] for _, update in receiver.posts] == [1, 2]
    assert info["pending_update_count"] == 0 and "last_error_date" not in info


async def _retries(url: str, token: str, control) -> tuple[Receiver, dict, dict]:
    failures = {"left": 2}

    async def flaky(request: web.Request, update: dict) -> web.Response:
        if failures["left"] > 0:
            failures["left"] -= 1
            return web.Response(status=500, text="boom")
        return web.Response(text="ok")

    async with Receiver(flaky) as receiver, _api(url, token) as api:
        await api.post("setWebhook", json={"url": receiver.url})
        await asyncio.to_thread(control.inject_message, token, 301, "retry me")
        await receiver.wait_for(1)
        await asyncio.sleep(0.02)
        failing = (await api.get("getWebhookInfo")).json()["result"]
        await receiver.wait_for(3)
        await asyncio.sleep(0.1)
        done = (await api.get("getWebhookInfo")).json()["result"]
        await api.post("deleteWebhook")
        return receiver, failing, done


def test_non_2xx_is_retried_with_backoff_and_reported(emulator, control, token):
    receiver, failing, done = asyncio.run(_retries(emulator.url, token, control))
    assert [update["update_id"] for _, update in receiver.posts] == [1, 1, 1]
    assert failing["pending_update_count"] == 1
    assert failing["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    assert isinstance(failing["last_error_date"], int)
    assert done["pending_update_count"] == 0


async def _order(url: str, token: str, control) -> Receiver:
    async def slow(request: web.Request, update: dict) -> web.Response:
        await asyncio.sleep(0.15)
        return web.Response(text="ok")

    async with Receiver(slow) as receiver, _api(url, token) as api:
        await api.post("setWebhook", json={"url": receiver.url, "max_connections": 2})
        items = [{"user_id": user, "text": f"{user}-{i}"} for i in range(3) for user in (401, 402, 403)]
        await asyncio.to_thread(control.inject_batch, token, items)
        await receiver.wait_for(9)
        await api.post("deleteWebhook")
        return receiver


def test_per_chat_order_and_max_connections(emulator, control, token):
    receiver = asyncio.run(_order(emulator.url, token, control))
    by_chat: dict[int, list[str]] = {}
    for _, update in receiver.posts:
        by_chat.setdefault(update["message"]["chat"]["id"], []).append(update["message"]["text"])
    assert by_chat == {user: [f"{user}-{i}" for i in range(3)] for user in (401, 402, 403)}
    assert receiver.max_active == 2          # parallel across chats, never above max_connections


async def _reply_with_method(url: str, token: str, control) -> None:
    async def answer(request: web.Request, update: dict) -> web.Response:
        chat_id = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "from the webhook reply"})

    async with Receiver(answer) as receiver, _api(url, token) as api:
        await api.post("setWebhook", json={"url": receiver.url})
        await asyncio.to_thread(control.inject_message, token, 302, "hi")
        entry = await asyncio.to_thread(control.wait_for_message, token, 302, -1, 5.0)
        await api.post("deleteWebhook")
        assert entry is not None and entry["text"] == "from the webhook reply"


def test_webhook_reply_can_carry_a_method_call(emulator, control, token):
    asyncio.run(_reply_with_method(emulator.url, token, control))
