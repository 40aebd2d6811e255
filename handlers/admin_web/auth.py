"""One-time login tokens: what the bot's /login puts in the link, redeemed by GET /admin/login.

Invariant: a token is 32 random bytes (urlsafe); Redis holds only its sha256 (hex) under
`<prefix>admin:login:<hash>` with the Telegram id as value and ADMIN_LOGIN_TTL_S as TTL, so a Redis
dump never contains a usable link. Redeeming is one GETDEL: a token works once, even when two
requests race, and never after its TTL.
"""
from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128            # anything longer is not one of ours: refused before hashing


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class LoginTokens:
    """Issue and redeem login tokens (synchronous Redis: the bot's handler threads and, through
    a thread, the web routes)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix + "admin:login:"
        self.ttl_s = ttl_s

    def key(self, token: str) -> str:
        return self.prefix + digest(token)

    def issue(self, user_id: int) -> str:
        """A fresh token for `user_id`, valid for ttl_s seconds and one use."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.client.set(self.key(token), str(user_id), ex=self.ttl_s)
        return token

    def redeem(self, token: str) -> int | None:
        """The Telegram id the token was issued to, once; None when unknown, used or expired."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        raw: Any = self.client.getdel(self.key(token))
        return int(raw) if raw is not None else None
