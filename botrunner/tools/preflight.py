"""`botrunner check`: verify that everything the runner needs is reachable before starting it."""
from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import redis

from botrunner.config.settings import Settings, mask
from botrunner.errors import EmbeddedRedisError
from botrunner.supervisor.embedded_redis import server_binary

DEFAULT_API = "https://api.telegram.org"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def run_checks(settings: Settings) -> list[CheckResult]:
    """Run every check; one failing does not stop the others."""
    checks: list[tuple[str, Callable[[Settings], str]]] = [
        ("state directory", check_state_dir),
        ("redis", check_redis),
        ("database", check_database),
        ("bot api", check_bot_api),
    ]
    results = [CheckResult("configuration", True, f"valid (api {settings.telegram_api_url})")]
    for name, check in checks:
        try:
            results.append(CheckResult(name, True, check(settings)))
        except Exception as exc:  # each check reports its own failure as one line
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def check_state_dir(settings: Settings) -> str:
    path = Path(settings.state_dir)
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write-test-{uuid.uuid4().hex}"
    probe.write_bytes(b"x" * 4096)  # a full disk fails here, not in the middle of a run
    probe.unlink()
    return f"{path.resolve()} is writable"


def check_redis(settings: Settings) -> str:
    if settings.embedded_redis:
        binary = server_binary()
        if len(str(Path(settings.embedded_redis_socket).resolve())) > 100:
            raise EmbeddedRedisError("STATE_DIR path too long for a unix socket; use a shorter STATE_DIR")
        return f"embedded redis-server ({binary}) will run under {settings.state_dir}; set REDIS_URL for a shared Redis"
    client = redis.Redis.from_url(settings.redis_url_for(settings.redis_dedup_db), socket_timeout=3,
                                  socket_connect_timeout=3)
    version = cast("dict[str, Any]", client.info("server"))["redis_version"]   # redis-py types replies loosely
    return f"{mask(settings.redis_url) or settings.redis_host} answers (redis {version})"


def check_database(settings: Settings) -> str:
    if settings.mongodb_url:
        import pymongo
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            settings.mongodb_url, serverSelectionTimeoutMS=settings.mongo_timeout_ms)
        try:
            version = client.server_info()["version"]
        finally:
            client.close()
        return f"MongoDB {version} at {mask(settings.mongodb_url)}"
    Path(settings.sqlite_file).parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(settings.sqlite_file, timeout=5) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    return f"SQLite {sqlite3.sqlite_version} at {settings.sqlite_file}; set MONGODB_URL for MongoDB"


def check_bot_api(settings: Settings) -> str:
    base = settings.telegram_api_url
    if not settings.bot_token:
        if base == DEFAULT_API:
            raise ValueError("BOT_TOKEN is not set (required unless --api-url points at a local Bot API server)")
        httpx.get(base, timeout=5)  # any HTTP answer proves the server is there
        return f"{base} answers; BOT_TOKEN unset, getMe skipped"
    reply = httpx.get(f"{base}/bot{settings.bot_token}/getMe", timeout=10).json()
    if not reply.get("ok"):
        raise ValueError(f"getMe failed: {reply.get('error_code')} {reply.get('description')}")
    return f"getMe: @{reply['result'].get('username')} (id {reply['result']['id']}) via {base}"
