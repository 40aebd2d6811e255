"""The airdrop bot with the Mini App on, as `botrunner start` runs it (real workers, their HTTP
server, the local Bot API server, SQLite, Redis), and what a Telegram client would do with it:
sign initData with the bot token, ask for a challenge, answer it.

The tests "see" the gap the way a person looks at the picture: by reading the challenge's target
from Redis (the page itself never gets it).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import redis

from tests.conftest import free_port
from tests.handlers.live import LiveBot, live_bot
from tests.runner.conftest import KEYS, TOKEN, wait_until

MINIAPP_URL = "https://mini.example.org/miniapp/"
DEVICE = {"screen_width": 1080, "screen_height": 2400, "color_depth": 24, "pixel_ratio": 2.75, "platform": "Linux armv8l",
          "hardware_concurrency": 8, "timezone": "Europe/Berlin", "user_agent": "Mozilla/5.0 (Linux; Android 14)",
          "language": "de-DE", "canvas": "9a3f01c2"}


def sign_init_data(user_id: int, auth_date: float | None = None, token: str = TOKEN, first_name: str = "Ann") -> str:
    """initData as a Telegram client passes it (computed here per core.telegram.org/bots/webapps)."""
    pairs = {"query_id": f"AAq{user_id}", "auth_date": str(int(auth_date or time.time())),
             "user": json.dumps({"id": user_id, "first_name": first_name, "language_code": "en"}, separators=(",", ":"))}
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    check = "\n".join(f"{k}={v}" for k, v in sorted(pairs.items()))
    pairs["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(pairs, quote_via=quote)


def human_trace(position: float, steps: int = 12) -> list[list[float]]:
    """A drag that took a while and wobbled, ending at `position`."""
    return [[i * 60, position * i / steps, 300 + (i % 3)] for i in range(steps + 1)]


class MiniAppClient:
    """HTTP calls of one client IP (sent as X-Forwarded-For through the trusted local proxy)."""

    def __init__(self, base: str, ip: str, pipeline: redis.Redis) -> None:
        self.base = base
        self.ip = ip
        self.pipeline = pipeline
        self.http = httpx.Client(timeout=15, headers={"X-Forwarded-For": ip})

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(f"{self.base}/api/{path}", json=body)

    def session(self, init_data: str) -> httpx.Response:
        return self.post("session", {"init_data": init_data})

    def target(self, challenge_id: str) -> float:
        return json.loads(self.pipeline.get(f"{KEYS.prefix}miniapp:challenge:{challenge_id}"))["target"]

    def solve(self, init_data: str, device: dict | None = None, miss: float = 0.0) -> httpx.Response:
        """A challenge, answered where the gap is (plus `miss`)."""
        challenge = self.session(init_data).json()
        position = self.target(challenge["challenge_id"]) + miss
        return self.post("verify", {"init_data": init_data, "challenge_id": challenge["challenge_id"],
                                    "position": position, "trace": human_trace(position),
                                    "fingerprint": device or DEVICE})

    def close(self) -> None:
        self.http.close()


@contextmanager
def miniapp_bot(redis_url: str, tmp_path: Path, **env: str) -> Iterator[tuple[LiveBot, str]]:
    """The live bot with the Mini App on; yields it and the Mini App's base URL."""
    port = free_port()
    settings = {"MINIAPP_URL": MINIAPP_URL, "FINGERPRINT_SALT": "live-pepper", "CAPTCHA_ENABLED": "false",
                "WEB_LISTEN": f"127.0.0.1:{port}", "WEB_TRUSTED_PROXIES": "127.0.0.1/32", "SEND_LIMITS": "false",
                "MINIAPP_RATE_LIMIT_MAX": "1000", **env}
    with live_bot(redis_url, tmp_path, **settings) as bot:
        base = f"http://127.0.0.1:{port}/miniapp"
        wait_until(lambda: _answers(base), 30, 0.2, what="the Mini App page")
        yield bot, base


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
