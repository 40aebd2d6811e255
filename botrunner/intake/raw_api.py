"""Plain Bot API calls on an aiohttp session: what the poller uses for getUpdates.

The sender goes through python-telegram-bot (botrunner.sender.client) instead; getUpdates stays on
this path because the poller needs the raw batch bytes-to-dicts with no per-update objects.
"""
from __future__ import annotations

from typing import Any

import aiohttp

from botrunner import json_codec
from botrunner.errors import ApiError


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
            form.add_field(name, json_codec.dumps_str(value))
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
        # lossy: a server sending bad UTF-8 must not wedge the caller
        payload = json_codec.loads_lossy(body)
    except ValueError:
        raise ApiError(method, resp.status, f"non-JSON answer: {body[:200]!r}") from None
    if not isinstance(payload, dict):
        raise ApiError(method, resp.status, f"unexpected answer: {body[:200]!r}")
    if payload.get("ok"):
        return payload.get("result")
    retry_after = (payload.get("parameters") or {}).get("retry_after")
    raise ApiError(method, int(payload.get("error_code") or resp.status), str(payload.get("description", "")),
                   float(retry_after) if retry_after is not None else None)
