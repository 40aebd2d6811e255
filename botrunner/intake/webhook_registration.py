"""Registering the webhook with the Bot API: setWebhook at start, and `botrunner webhook info|set|delete`.

setWebhook always sends url, secret_token, max_connections and an explicit allowed_updates (the
router's; an empty list means Telegram's default set, which also resets a narrower list left by
an earlier deployment). It never sends drop_pending_updates: updates Telegram holds are delivered
once the webhook is set. deleteWebhook never drops them either, so switching back to polling
loses nothing. Synchronous (httpx): the supervisor and the CLI call it, not a worker.
"""
from __future__ import annotations

import time
from typing import Any, cast

import httpx
from loguru import logger

from botrunner.config.settings import Settings
from botrunner.errors import ApiError
from botrunner.intake.raw_api import api_base

ATTEMPTS = 3


def allowed_updates(router: Any) -> list[str]:
    """The update kinds the router asks for ([]: Telegram's default set)."""
    return list(getattr(router, "allowed_updates", None) or [])


def call(settings: Settings, method: str, params: dict[str, Any], timeout: float = 10.0) -> Any:
    """One Bot API call; the result, or ApiError (the token never appears in the error)."""
    url = api_base(settings.telegram_api_url, settings.bot_token) + method
    try:
        response = httpx.post(url, json=params, timeout=timeout)
        payload = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ApiError(method, 0, f"no answer from {settings.telegram_api_url}: {type(exc).__name__}") from None
    if isinstance(payload, dict) and payload.get("ok"):
        return payload.get("result")
    payload = payload if isinstance(payload, dict) else {}
    retry_after = (payload.get("parameters") or {}).get("retry_after")
    raise ApiError(method, int(payload.get("error_code") or response.status_code),
                   str(payload.get("description", "")), float(retry_after) if retry_after is not None else None)


def set_webhook(settings: Settings, updates: list[str]) -> str:
    """setWebhook with the configured URL and secret; retried on 429 / no answer. Returns the description."""
    params = {"url": settings.webhook_url, "secret_token": settings.webhook_secret,
              "max_connections": settings.webhook_max_connections, "allowed_updates": updates}
    for attempt in range(1, ATTEMPTS + 1):
        try:
            call(settings, "setWebhook", params)
            return f"webhook set to {settings.webhook_url} (max_connections {settings.webhook_max_connections})"
        except ApiError as exc:
            if attempt == ATTEMPTS or exc.code not in (0, 429) and exc.code < 500:
                raise
            delay = exc.retry_after or attempt
            logger.warning("setWebhook: {} {}; retrying in {:g}s", exc.code, exc.description, delay)
            time.sleep(delay)
    raise AssertionError("not reached")


def delete_webhook(settings: Settings) -> None:
    """deleteWebhook, keeping pending updates (the next getUpdates receives them)."""
    call(settings, "deleteWebhook", {"drop_pending_updates": False})


def webhook_info(settings: Settings) -> dict[str, Any]:
    info = call(settings, "getWebhookInfo", {})
    return info if isinstance(info, dict) else {}


def info_lines(info: dict[str, Any], rejected: dict[str, int]) -> list[str]:
    """getWebhookInfo (and the refusals counted in Redis) as operator-readable lines."""
    if not info.get("url"):
        lines = ["webhook: none (the bot long-polls; `botrunner webhook set` registers WEBHOOK_URL)"]
    else:
        lines = [f"webhook: {info['url']}", f"max_connections: {info.get('max_connections', '?')}",
                 f"allowed_updates: {', '.join(info.get('allowed_updates') or []) or 'Telegram default'}"]
    lines.append(f"pending updates: {info.get('pending_update_count', 0)}")
    if info.get("last_error_date"):
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info["last_error_date"]))
        lines.append(f"last error: {when}: {info.get('last_error_message', '')}")
    if rejected:
        lines.append("refused POSTs: " + ", ".join(f"{reason} {count}" for reason, count in sorted(rejected.items())))
    return lines


def set_problem(settings: Settings) -> str | None:
    """Why setWebhook cannot be called with these settings (one line with the fix), or None."""
    if not settings.webhook_url:
        return "WEBHOOK_URL is not set: the public https:// URL nginx serves WEBHOOK_PATH on"
    if not settings.webhook_secret:
        return ("TELEGRAM_WEBHOOK_SECRET is not set: generate one with "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if settings.webhook_url.startswith("http://") and settings.telegram_api_url == "https://api.telegram.org":
        return f"WEBHOOK_URL={settings.webhook_url} must start with https:// (Telegram posts over TLS only)"
    return None


def rejected_counts(settings: Settings) -> dict[str, int]:
    """Refused POSTs per reason, all workers (empty when Redis is not reachable)."""
    import redis

    from botrunner import redis_clients
    from botrunner.redis_keys import Keys
    try:
        client = redis_clients.sync_client(settings, settings.redis_dedup_db, timeout=2)
        raw = cast(dict, client.hgetall(Keys.for_token(settings.bot_token).webhook_rejected))
    except (redis.RedisError, OSError):
        return {}
    return {key.decode(): int(value) for key, value in raw.items()}
