"""Conversation state (sessions) in Redis (REDIS_SESSION_DB), with a TTL, encrypted when a key is set.

Key `<prefix>session:<user_id>:<chat_id>` (prefix `botrunner:<bot id>:` in workers), value JSON.
With SESSION_ENCRYPTION_KEY set, values are Fernet tokens (AES-128-CBC + HMAC-SHA256, from the
`cryptography` package): unreadable and tamper-evident at rest. The key may be a Fernet key
(`Fernet.generate_key()`) or any passphrase, which is stretched with HKDF-SHA256. A value that cannot
be decrypted (key changed, tampering) reads as an empty session.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, cast

import redis
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from loguru import logger

KEY = "session:{}:{}"


def fernet_for(secret: str) -> Fernet:
    """A Fernet from a Fernet key, or from a passphrase through HKDF-SHA256."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return Fernet(secret.encode())
    except (binascii.Error, ValueError):
        pass
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"botrunner-sessions", info=b"fernet").derive(
        secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class SessionStore:
    """get / set / delete one conversation state (a JSON-able dict) per (user, chat).

    An update without a user or a chat (a channel post) keys its session under "None" for it."""

    def __init__(self, client: redis.Redis, ttl_s: int = 86400, encryption_key: str = "", prefix: str = "") -> None:
        self.redis = client
        self.key = (prefix + KEY).format      # per bot, so bots sharing one Redis keep their own sessions
        self.ttl_s = ttl_s
        self.fernet = fernet_for(encryption_key) if encryption_key else None

    def get(self, user_id: int | None, chat_id: int | None) -> dict[str, Any]:
        """The state, or {} when none (expired, never set, or unreadable)."""
        raw = cast("bytes | None", self.redis.get(self.key(user_id, chat_id)))   # redis-py types replies loosely
        if raw is None:
            return {}
        try:
            return json.loads(self.fernet.decrypt(raw) if self.fernet else raw)
        except (InvalidToken, ValueError):
            logger.warning("Session {}:{} could not be read (key changed or data tampered); starting empty",
                           user_id, chat_id)
            return {}

    def set(self, user_id: int | None, chat_id: int | None, state: dict[str, Any]) -> None:
        """Store the state; the TTL restarts on every write."""
        raw = json.dumps(state, separators=(",", ":")).encode()
        self.redis.set(self.key(user_id, chat_id), self.fernet.encrypt(raw) if self.fernet else raw, ex=self.ttl_s)

    def delete(self, user_id: int | None, chat_id: int | None) -> None:
        self.redis.delete(self.key(user_id, chat_id))

    def ttl(self, user_id: int | None, chat_id: int | None) -> int:
        """Seconds left (-2: no session), for status pages and tests."""
        return cast(int, self.redis.ttl(self.key(user_id, chat_id)))


class ConversationStates:
    """The runner's conversation-state interface (get/set/clear of a step name, chat first) over a
    SessionStore, so the step is kept with the rest of the session: same TTL, same encryption."""

    FIELD = "step"

    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions

    def get(self, chat_id: int | None, user_id: int | None) -> str | None:
        return self.sessions.get(user_id, chat_id).get(self.FIELD)

    def set(self, chat_id: int | None, user_id: int | None, state: str) -> None:
        self.sessions.set(user_id, chat_id, {**self.sessions.get(user_id, chat_id), self.FIELD: state})

    def clear(self, chat_id: int | None, user_id: int | None) -> None:
        data = self.sessions.get(user_id, chat_id)
        data.pop(self.FIELD, None)
        if data:
            self.sessions.set(user_id, chat_id, data)
        else:
            self.sessions.delete(user_id, chat_id)
