"""The one conversation store: per (chat, user), the step a conversation is in and its data, one record.

A record is `Conversation(state, data)`; an empty one (no state, no data) is not stored. Two
implementations of the `StateStore` protocol: `RedisStates` (REDIS_SESSION_DB, key
`<prefix>conv:<chat>:<user>`, TTL SESSION_TTL_S restarted on every write, a Fernet token when
SESSION_ENCRYPTION_KEY is set) and `MemoryStates` (handler unit tests). Handlers never write here
directly: the context stages their writes and the worker applies them when the update completes.

Before this store there were two: the step under `<prefix>state:<chat>:<user>` (clear text) and the
data under `<prefix>session:<user>:<chat>`. The supervisor converts those into records once, before
any worker starts (botrunner.supervisor.key_migration), so the store reads and writes one key only.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import redis
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from loguru import logger

if TYPE_CHECKING:
    from botrunner.config.settings import Settings

DEFAULT_TTL_S = 86400


@dataclass
class Conversation:
    """One chat's conversation: the state name (None: no conversation) and the data kept with it."""

    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def empty(self) -> bool:
        return self.state is None and not self.data


class StateStore(Protocol):
    """What the runner needs of a conversation store (reads in handler threads, writes at completion)."""

    def get(self, chat_id: int | None, user_id: int | None) -> Conversation: ...

    def put(self, chat_id: int | None, user_id: int | None, conversation: Conversation) -> None: ...


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


class MemoryStates:
    """Conversations in a dict: handler unit tests need no Redis."""

    def __init__(self) -> None:
        self.records: dict[tuple[int | None, int | None], Conversation] = {}

    def get(self, chat_id: int | None, user_id: int | None) -> Conversation:
        found = self.records.get((chat_id, user_id))
        return Conversation(found.state, dict(found.data)) if found else Conversation()

    def put(self, chat_id: int | None, user_id: int | None, conversation: Conversation) -> None:
        if conversation.empty():
            self.records.pop((chat_id, user_id), None)
        else:
            self.records[(chat_id, user_id)] = Conversation(conversation.state, dict(conversation.data))


class RedisStates:
    """Conversations in Redis (synchronous client: handlers run in worker threads)."""

    def __init__(self, client: redis.Redis, prefix: str = "", ttl_s: int = DEFAULT_TTL_S,
                 encryption_key: str = "") -> None:
        self.redis = client
        self.prefix = prefix            # per bot, so bots sharing one Redis keep their own conversations
        self.ttl_s = ttl_s
        self.fernet = fernet_for(encryption_key) if encryption_key else None

    def key(self, chat_id: int | None, user_id: int | None) -> str:
        return f"{self.prefix}conv:{chat_id}:{user_id}"

    def get(self, chat_id: int | None, user_id: int | None) -> Conversation:
        """The chat's conversation; an empty one when none (expired, never set, or unreadable)."""
        raw = cast("bytes | None", self.redis.get(self.key(chat_id, user_id)))
        if raw is None:
            return Conversation()
        record = self.read_value(raw, chat_id, user_id)
        if isinstance(record, dict) and isinstance(record.get("data", {}), dict):
            return Conversation(record.get("state"), record.get("data") or {})
        return Conversation()

    def put(self, chat_id: int | None, user_id: int | None, conversation: Conversation) -> None:
        """Store the conversation (the TTL restarts), or delete it when empty."""
        if conversation.empty():
            self.redis.delete(self.key(chat_id, user_id))
        else:
            self.redis.set(self.key(chat_id, user_id), self.encode(conversation), ex=self.ttl_s)

    def encode(self, conversation: Conversation) -> bytes:
        """The stored value of a record: JSON, as a Fernet token when a key is set."""
        raw = json.dumps({"state": conversation.state, "data": conversation.data}, separators=(",", ":")).encode()
        return self.fernet.encrypt(raw) if self.fernet else raw

    def read_value(self, raw: bytes, chat_id: int | None, user_id: int | None) -> Any:
        """The JSON in a stored value (decrypted when a key is set); {} when it cannot be read."""
        try:
            return json.loads(self.fernet.decrypt(raw) if self.fernet else raw)
        except (InvalidToken, ValueError):
            logger.warning("Conversation {}:{} could not be read (key changed or data tampered); starting empty",
                           chat_id, user_id)
            return {}

    def ttl(self, chat_id: int | None, user_id: int | None) -> int:
        """Seconds left (-2: no conversation), for status pages and tests."""
        return cast(int, self.redis.ttl(self.key(chat_id, user_id)))

    def close(self) -> None:
        self.redis.close()


def states_from_settings(settings: Settings, client: redis.Redis, prefix: str) -> RedisStates:
    """The worker's store: SESSION_TTL_S and SESSION_ENCRYPTION_KEY from Settings."""
    return RedisStates(client, prefix, settings.session_ttl_s, settings.session_encryption_key)
