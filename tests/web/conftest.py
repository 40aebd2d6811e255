"""Web fixtures: the workers' HTTP server on a free port, with the session Redis behind it."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis

from botrunner.config.settings import Settings, load_settings
from botrunner.redis_keys import Keys
from botrunner.web.env import WebEnv
from botrunner.web.server import WebServer, start_web
from tests.conftest import free_port

TOKEN = "123456:web-test"
KEYS = Keys.for_token(TOKEN)
SECRET = "s3cr3t-Token_value"


def web_settings(redis_url: str, **env: str) -> Settings:
    base = {"BOT_TOKEN": TOKEN, "REDIS_URL": redis_url, "USE_WEBHOOK": "true", "LANES": "8",
            "WEBHOOK_URL": "https://bot.example.org/webhook", "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "WEB_LISTEN": f"127.0.0.1:{free_port()}"}
    return load_settings(environ={**base, **env}, env_file=None)


@asynccontextmanager
async def serving(settings: Settings, redis_url: str | None = None, **kwargs: Any) -> AsyncIterator[WebServer]:
    """The HTTP server a worker would start with these settings (fails when nothing is mounted)."""
    if settings.redis_cluster:
        from botrunner import redis_clients
        client = redis_clients.async_client(settings, 0)
    else:
        client = aioredis.Redis.from_url(redis_url or settings.redis_url_for(settings.redis_dedup_db))
    server = await start_web(WebEnv(settings, client, KEYS, "test:1:abcd"), **kwargs)
    assert server is not None, "no feature mounted"
    try:
        yield server
    finally:
        await server.stop()
        await client.aclose()


def update(update_id: int, chat_id: int, text: str = "/start") -> dict[str, Any]:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 1700000000, "text": text,
                                                 "from": {"id": chat_id, "is_bot": False, "first_name": "T"},
                                                 "chat": {"id": chat_id, "type": "private"}}}
