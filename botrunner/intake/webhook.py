"""Webhook intake: Telegram POSTs one update per request; it is answered 200 only once durable.

A web feature (see botrunner.web.server): mounted on WEBHOOK_PATH when USE_WEBHOOK=true. Each POST
is checked (sender network when WEBHOOK_TRUSTED_NETWORKS is set: 403; secret header compared in
constant time: 401), parsed (malformed: 400), and stored by the same intake script as polling,
without the lease (dedup by update_id for 24 h, XADD to the chat's lane). Only then is it answered
200; when Redis cannot take it in WEBHOOK_RESPONSE_TIMEOUT_MS the answer is 503 and Telegram
retries. A duplicate (a retry after a lost 200) is answered 200 and stored once.

No lease is needed, so any number of workers on any number of hosts receive at once: order per
chat holds because Telegram sends a chat's next update only after the previous one was answered,
and the answer comes after the XADD. POSTs that arrive together share one script call
(webhook_batch). Rejections are counted per reason in Redis
(`botrunner webhook info` shows them) and logged at most once per LOG_EVERY_S per reason.
"""
from __future__ import annotations

import asyncio
import hmac
import time
from collections import Counter
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast

from aiohttp import web
from loguru import logger

from botrunner import json_codec
from botrunner.config.settings import Settings
from botrunner.intake.store import Intake, prepare
from botrunner.intake.webhook_batch import CoalescingIntake
from botrunner.metrics import record
from botrunner.redis_clients import UNAVAILABLE
from botrunner.web.forwarded import client_address, inside, networks

if TYPE_CHECKING:
    from botrunner.web.env import WebEnv

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
LOG_EVERY_S = 10.0
WEBHOOK_INTAKE = web.AppKey("webhook_intake", object)


def enabled(settings: Settings) -> bool:
    """Mounted in webhook mode only."""
    return settings.use_webhook


def mount(app: web.Application, env: WebEnv) -> None:
    """POST WEBHOOK_PATH -> WebhookIntake.handle."""
    intake = WebhookIntake(env)
    app[WEBHOOK_INTAKE] = intake
    app.router.add_post(env.settings.webhook_path, intake.handle)


class WebhookIntake:
    """Checks, parses and stores webhook POSTs for one worker; counts what it refuses."""

    def __init__(self, env: WebEnv) -> None:
        s = env.settings
        self.redis = env.redis
        self.rejected_key = env.keys.webhook_rejected
        self.secret = s.webhook_secret.encode()
        self.trusted = networks(s.webhook_trusted_networks)
        self.proxies = networks(s.web_trusted_proxies)
        self.lanes = s.lanes
        self.timeout = s.webhook_response_timeout_ms / 1000
        self.counts: Counter[str] = Counter()
        self.intake = CoalescingIntake(Intake(env.redis, env.keys, s.intake_wait_replicas, s.intake_wait_timeout_ms),
                                       self.counts)
        self._logged_at: dict[str, float] = {}

    async def handle(self, request: web.Request) -> web.Response:
        """One POST: 200 only after the update is in its lane (or was already)."""
        refusal = self.refusal(request)
        if refusal is not None:
            return await self.reject(*refusal)
        body = await request.read()
        try:
            update = json_codec.loads(body)
        except ValueError:
            return await self.reject("malformed", 400, f"body is not JSON: {body[:120]!r}")
        batch = prepare([update], self.lanes, 0)
        if batch.rejected:
            return await self.reject("malformed", 400, "not an update object with an integer update_id")
        try:
            await asyncio.wait_for(self.intake.store(batch.entries[0]), self.timeout)
        except UNAVAILABLE as exc:
            self.counts["unavailable"] += 1
            self.log_once("unavailable", f"Webhook: Redis could not store update {batch.entries[0][0]} "
                          f"({exc!r}); answered 503 so Telegram retries")
            return web.Response(status=503, text="update not stored, retry", headers={"Retry-After": "1"})
        record.intake("webhook", [update], 0, 0)
        return web.Response(text="ok")

    def refusal(self, request: web.Request) -> tuple[str, int, str] | None:
        """Why this request may not deliver an update (reason, status, detail), or None."""
        if self.trusted:
            address = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.proxies)
            if not inside(address, self.trusted):
                return "untrusted", 403, f"from {address}, outside WEBHOOK_TRUSTED_NETWORKS"
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return "unauthorized", 401, f"no {SECRET_HEADER} header"
        if not self.secret or not hmac.compare_digest(given.encode(), self.secret):
            return "unauthorized", 401, f"wrong {SECRET_HEADER}"
        return None

    async def reject(self, reason: str, status: int, detail: str) -> web.Response:
        """Count (here and in Redis, best effort), log now and then, answer `status`; nothing stored."""
        self.counts[reason] += 1
        record.webhook_refused(reason)
        self.log_once(reason, f"Webhook: refused a POST ({status}): {detail}")
        try:
            await cast(Awaitable[int], self.redis.hincrby(self.rejected_key, reason, 1))
        except UNAVAILABLE:
            pass
        return web.Response(status=status, text=reason)

    def log_once(self, reason: str, line: str) -> None:
        now = time.monotonic()
        if now - self._logged_at.get(reason, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged_at[reason] = now
            logger.warning("{} ({} so far from this worker)", line, self.counts[reason])
