"""Conversation state per (chat, user): the name of the step a conversation is in.

Two stores with one interface: `RedisStates` (REDIS_SESSION_DB, with a TTL; used by workers)
and `MemoryStates` (for handler unit tests). The storage issue's encrypted sessions can replace
`RedisStates` behind the same three methods.
"""
from __future__ import annotations

from typing import cast

import redis

STATE_TTL_S = 7 * 24 * 3600


class MemoryStates:
    """Conversation states in a dict: handler unit tests need no Redis."""

    def __init__(self) -> None:
        self.states: dict[tuple[int | None, int | None], str] = {}

    def get(self, chat_id: int | None, user_id: int | None) -> str | None:
        return self.states.get((chat_id, user_id))

    def set(self, chat_id: int | None, user_id: int | None, state: str) -> None:
        self.states[(chat_id, user_id)] = state

    def clear(self, chat_id: int | None, user_id: int | None) -> None:
        self.states.pop((chat_id, user_id), None)


class RedisStates:
    """Conversation states in Redis (synchronous client: handlers run in worker threads)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int = STATE_TTL_S) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, chat_id: int | None, user_id: int | None) -> str:
        return f"{self.prefix}state:{chat_id}:{user_id}"

    def get(self, chat_id: int | None, user_id: int | None) -> str | None:
        raw = cast("bytes | str | None", self.client.get(self._key(chat_id, user_id)))   # redis-py types replies loosely
        return raw.decode() if isinstance(raw, bytes) else raw

    def set(self, chat_id: int | None, user_id: int | None, state: str) -> None:
        self.client.set(self._key(chat_id, user_id), state, ex=self.ttl_s)

    def clear(self, chat_id: int | None, user_id: int | None) -> None:
        self.client.delete(self._key(chat_id, user_id))
