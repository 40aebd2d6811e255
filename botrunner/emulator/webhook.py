"""setWebhook / deleteWebhook / getWebhookInfo and the delivery loop that POSTs updates to the bot.

Delivery keeps Telegram's promises: one Update per POST with X-Telegram-Bot-Api-Secret-Token, at
most max_connections requests in flight, updates of one chat strictly in order, and a failed
delivery (non-2xx, timeout, refused) retried with doubling backoff while the error is reported by
getWebhookInfo. An update leaves the queue only when the bot answered 2xx.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from loguru import logger

from botrunner.backoff import delay_after
from botrunner.emulator.envelope import Described, bad_request, too_many_requests
from botrunner.emulator.params import Params
from botrunner.emulator.state import BotState, StoredUpdate

_SECRET = re.compile(r"[A-Za-z0-9_-]*")


class WebhookDelivery:
    """The webhook of one token: its settings and the task delivering its queue."""

    def __init__(self, emulator: Any, state: BotState, url: str, secret: str, max_connections: int,
                 allowed_updates: list[str] | None) -> None:
        self.emulator = emulator
        self.state = state
        self.url = url
        self.secret = secret
        self.max_connections = max_connections
        self.allowed_updates = allowed_updates
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.delivered = 0
        self.in_flight: dict[int, asyncio.Task] = {}
        self.attempts: dict[int, int] = {}
        self.retry_at: dict[int, float] = {}
        self.wakeup = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self.run())

    def same_settings(self, url: str, secret: str, max_connections: int, allowed: list[str] | None) -> bool:
        return (url, secret, max_connections, allowed) == (self.url, self.secret, self.max_connections,
                                                            self.allowed_updates)

    def wake(self) -> None:
        self.wakeup.set()

    def stop(self) -> None:
        self.task.cancel()
        for task in self.in_flight.values():
            task.cancel()

    async def run(self) -> None:
        while True:
            self.wakeup.clear()
            delay = self.start_deliveries()
            try:
                await asyncio.wait_for(self.wakeup.wait(), delay)
            except asyncio.TimeoutError:
                pass

    def start_deliveries(self) -> float | None:
        """Start every delivery allowed now; return seconds until the next retry is due (None: none)."""
        now = time.monotonic()
        waiting_chats: set[Any] = set()
        next_retry: float | None = None
        for update in list(self.state.updates):
            if len(self.in_flight) >= self.max_connections:
                break
            chat = update.chat_key if update.chat_key is not None else ("update", update.update_id)
            if chat in waiting_chats:
                continue
            waiting_chats.add(chat)      # later updates of this chat wait for this one
            if update.update_id in self.in_flight:
                continue
            due = self.retry_at.get(update.update_id, 0.0)
            if due > now:
                next_retry = due if next_retry is None else min(next_retry, due)
                continue
            self.in_flight[update.update_id] = asyncio.get_running_loop().create_task(self.deliver(update))
        return None if next_retry is None else max(0.0, next_retry - now)

    async def deliver(self, update: StoredUpdate) -> None:
        error = None
        try:
            error = await self.post(update)
        finally:
            self.in_flight.pop(update.update_id, None)
        if error is None:
            self.delivered += 1
            self.retry_at.pop(update.update_id, None)
            self.attempts.pop(update.update_id, None)
            try:
                self.state.updates.remove(update)
            except ValueError:
                pass          # confirmed meanwhile (deleteWebhook with drop_pending_updates, reset)
        else:
            attempts = self.attempts[update.update_id] = self.attempts.get(update.update_id, 0) + 1
            options = self.state.options
            backoff = delay_after(attempts, options.webhook_retry_base, options.webhook_retry_max)
            self.retry_at[update.update_id] = time.monotonic() + backoff
            self.last_error_date = int(time.time())
            self.last_error_message = error
        self.wake()

    async def post(self, update: StoredUpdate) -> str | None:
        """POST one update; None on 2xx, else the error text getWebhookInfo reports."""
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.secret
        timeout = aiohttp.ClientTimeout(total=self.state.options.webhook_timeout)
        try:
            async with self.emulator.http().post(self.url, data=update.payload, headers=headers,
                                                 timeout=timeout) as response:
                body = await response.read()
                if not 200 <= response.status < 300:
                    return f"Wrong response from the webhook: {response.status} {response.reason}"
        except asyncio.TimeoutError:
            return "Connection timed out"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError as exc:
            return f"Connection error: {exc}"
        await self.answer_in_reply(body, response.content_type)
        return None

    async def answer_in_reply(self, body: bytes, content_type: str) -> None:
        """A bot may answer a webhook POST with a method call in the body; Telegram executes it."""
        if content_type != "application/json" or not body:
            return
        try:
            call = json.loads(body)
        except ValueError:
            return
        if isinstance(call, dict) and isinstance(call.get("method"), str):
            values = {k: v for k, v in call.items() if k != "method"}
            response = await self.emulator.call(self.state, call["method"], Params(values))
            if response.status != 200:
                logger.debug("webhook reply {} failed: {}", call["method"], response.body)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"url": self.url, "has_custom_certificate": False,
                                "pending_update_count": len(self.state.updates),
                                "max_connections": self.max_connections}
        if self.allowed_updates:
            info["allowed_updates"] = self.allowed_updates
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: invalid webhook URL specified")


def _check_secret(secret: str) -> None:
    if len(secret) > 256:
        raise bad_request("secret token is too long")
    if not _SECRET.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")


async def set_webhook(emulator: Any, state: BotState, params: Params) -> Described:
    """setWebhook; an empty url deletes the webhook. More than one call per second: 429."""
    now = time.monotonic()
    last = getattr(state, "webhook_set_at", None)
    if last is not None and now - last < state.options.webhook_set_interval:
        raise too_many_requests(1)
    state.webhook_set_at = now
    url = params.text("url") or ""
    if not url:
        return await delete_webhook(emulator, state, params)
    _check_url(url)
    secret = params.text("secret_token") or ""
    _check_secret(secret)
    max_connections = max(1, min(100, params.lenient_integer("max_connections", 40)))
    allowed = params.json_field("allowed_updates", "can't parse allowed_updates JSON object")
    if allowed is not None:
        state.allowed_updates = [str(kind) for kind in allowed] or None
    if params.boolean("drop_pending_updates"):
        state.updates.clear()
    current: WebhookDelivery | None = state.webhook
    if current is not None and current.same_settings(url, secret, max_connections, allowed):
        return Described(True, "Webhook is already set")
    if current is not None:
        current.stop()
    if state.poll is not None:
        state.poll.close()
    state.webhook = WebhookDelivery(emulator, state, url, secret, max_connections, allowed)
    return Described(True, "Webhook was set")


async def delete_webhook(emulator: Any, state: BotState, params: Params) -> Described:
    if params.boolean("drop_pending_updates"):
        state.updates.clear()
    if state.webhook is None:
        return Described(True, "Webhook is already deleted")
    state.webhook.stop()
    state.webhook = None
    return Described(True, "Webhook was deleted")


async def get_webhook_info(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    if state.webhook is None:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(state.updates)}
    return state.webhook.info()
