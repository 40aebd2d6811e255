"""Flood limits: token buckets per chat, per group and per bot, answering 429 retry_after like Telegram.

The bot-wide bucket models the FAQ's "~30 users per second" for *bulk* notifications: a send into a
private chat whose user sent an update within `reply_window_s` is an answer, held only to the chat
bucket (Telegram publishes no exact rule; this is what is known by experience).
"""
from __future__ import annotations

import math
import time
from typing import Any

from botrunner.emulator.envelope import too_many_requests
from botrunner.emulator.options import FloodLimits


class TokenBucket:
    """`capacity` sends at once, refilled at `rate` per second."""

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def wait_time(self, now: float) -> float:
        """Seconds until one send is allowed (0 when it is allowed now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


def _buckets(limits: FloodLimits, buckets: dict[Any, TokenBucket], chat: dict[str, Any],
             reply: bool) -> list[TokenBucket]:
    chat_id = chat["id"]
    per_chat = buckets.get(("chat", chat_id))
    if per_chat is None:
        per_chat = buckets[("chat", chat_id)] = TokenBucket(limits.chat_rate, limits.chat_burst)
    found = [per_chat]
    if not reply:
        bulk = buckets.get("global")
        if bulk is None:
            bulk = buckets["global"] = TokenBucket(limits.global_rate, limits.global_burst)
        found.append(bulk)
    if chat["type"] != "private":
        group = buckets.get(("group", chat_id))
        if group is None:
            group = buckets[("group", chat_id)] = TokenBucket(limits.group_per_minute / 60.0, limits.group_per_minute)
        found.append(group)
    return found


def check_flood(limits: FloodLimits, buckets: dict[Any, TokenBucket], chat: dict[str, Any],
                last_update_mono: float | None = None) -> None:
    """Count one send into `chat`, or raise 429 "Too Many Requests: retry after N" without counting it.
    `last_update_mono`: when that chat last sent the bot an update (monotonic), if ever."""
    if not limits.enabled:
        return
    now = time.monotonic()
    reply = (chat["type"] == "private" and last_update_mono is not None
             and now - last_update_mono <= limits.reply_window_s)
    found = _buckets(limits, buckets, chat, reply)
    wait = max(bucket.wait_time(now) for bucket in found)
    if wait > 0:
        raise too_many_requests(max(1, math.ceil(wait)))
    for bucket in found:
        bucket.take()
