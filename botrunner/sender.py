"""The minimal sender: posts Bot API calls for the worker, in order, on the worker's event loop.

A placeholder for the cluster-wide, flood-controlled sender with an outbox journal (a later
issue): that one replaces this class behind the same `async send(method, params)`.
Retries network errors and 5xx with capped backoff, honours 429 retry_after; a 4xx other than
429 is final (the chat is gone, the bot is blocked, the text is bad): logged, not retried.
"""
from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp
from loguru import logger


class ApiError(Exception):
    """The Bot API answered ok=false."""

    def __init__(self, method: str, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"{method}: {code} {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after


def api_base(api_url: str, token: str) -> str:
    """URL prefix of every method: <api url>/bot<token>/."""
    return f"{api_url.rstrip('/')}/bot{token}/"


def _is_file(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray)) or (
        isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (bytes, bytearray)))


def multipart(params: dict[str, Any]) -> aiohttp.FormData:
    """A multipart body for uploads: a file is bytes or (file_name, bytes); nested values go as JSON text."""
    form = aiohttp.FormData()
    for name, value in params.items():
        if _is_file(value):
            file_name, data = value if isinstance(value, tuple) else (name, value)
            form.add_field(name, bytes(data), filename=file_name)
        elif isinstance(value, (dict, list)):
            form.add_field(name, json.dumps(value))
        else:
            form.add_field(name, str(value).lower() if isinstance(value, bool) else str(value))
    return form


async def call_api(session: aiohttp.ClientSession, base: str, method: str, params: dict[str, Any],
                   timeout: float) -> Any:
    """One Bot API request (JSON body); returns `result` or raises ApiError / aiohttp / timeout errors."""
    body_args = {"data": multipart(params)} if any(_is_file(v) for v in params.values()) else {"json": params}
    async with session.post(base + method, timeout=aiohttp.ClientTimeout(total=timeout), **body_args) as resp:
        body = await resp.read()
    try:
        # errors="replace": a server sending bad UTF-8 must not wedge the caller
        payload = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        raise ApiError(method, resp.status, f"non-JSON answer: {body[:200]!r}") from None
    if not isinstance(payload, dict):
        raise ApiError(method, resp.status, f"unexpected answer: {body[:200]!r}")
    if payload.get("ok"):
        return payload.get("result")
    retry_after = (payload.get("parameters") or {}).get("retry_after")
    raise ApiError(method, int(payload.get("error_code") or resp.status), str(payload.get("description", "")),
                   float(retry_after) if retry_after is not None else None)


class Sender:
    """Sends queued handler calls. One pooled aiohttp session per worker."""

    def __init__(self, api_url: str, token: str, attempts: int = 5, timeout: float = 30.0) -> None:
        self.base = api_base(api_url, token)
        self.attempts = attempts
        self.timeout = timeout
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, method: str, params: dict[str, Any]) -> Any:
        """Send one call, retrying what can succeed later; returns the result or None when it failed for good."""
        error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return await call_api(self.session, self.base, method, params, self.timeout)
            except ApiError as exc:
                if exc.code == 429:
                    error = exc
                    await asyncio.sleep(exc.retry_after or 1.0)
                    continue
                if exc.code < 500:
                    logger.warning("{} to chat {} failed: {}", method, params.get("chat_id"), exc.description)
                    return None
                error = exc
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error = exc
            await asyncio.sleep(min(5.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0))
        logger.error("{} to chat {} failed after {} attempts: {!r}", method, params.get("chat_id"),
                     self.attempts, error)
        return None
