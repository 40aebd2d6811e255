"""Admin web sessions, server-side in Redis.

Invariant: the browser holds only a random session id (in an HttpOnly cookie); Redis holds
`<prefix>admin:session:<sha256(sid)>` -> JSON {uid, csrf, created} with ADMIN_SESSION_TTL_S as TTL
(counted from the login, never extended), and `<prefix>admin:sessions:<uid>`, the set of that admin's
session hashes, so /logout_all ends every session of one admin. The CSRF token is per session and
random; it reaches the page only through GET /admin/api/me.
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from handlers.admin_web.auth import digest

if TYPE_CHECKING:
    import redis

SID_BYTES = 32
MAX_SID_CHARS = 128


@dataclass(frozen=True)
class Session:
    """One signed-in browser of one admin."""

    key: str            # the Redis key (holds the hash of the session id, never the id)
    uid: int
    csrf: str
    created: float


class Sessions:
    """Create, read and end sessions (synchronous Redis, called from threads)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix + "admin:"
        self.ttl_s = ttl_s

    def key(self, sid: str) -> str:
        return f"{self.prefix}session:{digest(sid)}"

    def index(self, uid: int) -> str:
        return f"{self.prefix}sessions:{uid}"

    def create(self, uid: int) -> tuple[str, Session]:
        """A new session for `uid`: (the session id for the cookie, the session)."""
        sid = secrets.token_urlsafe(SID_BYTES)
        session = Session(self.key(sid), uid, secrets.token_urlsafe(SID_BYTES), time.time())
        body = json.dumps({"uid": uid, "csrf": session.csrf, "created": session.created})
        pipe = self.client.pipeline()
        pipe.set(session.key, body, ex=self.ttl_s)
        pipe.sadd(self.index(uid), session.key)
        pipe.expire(self.index(uid), self.ttl_s)     # the newest session's lifetime covers the older ones
        pipe.execute()
        return sid, session

    def get(self, sid: str) -> Session | None:
        """The live session of this id, or None (unknown, ended or expired)."""
        if not sid or len(sid) > MAX_SID_CHARS:
            return None
        key = self.key(sid)
        raw: Any = self.client.get(key)
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(key, int(data["uid"]), str(data["csrf"]), float(data["created"]))

    def end(self, session: Session) -> None:
        pipe = self.client.pipeline()
        pipe.delete(session.key)
        pipe.srem(self.index(session.uid), session.key)
        pipe.execute()

    def end_all(self, uid: int) -> int:
        """End every session of `uid`; returns how many were still live."""
        members: Any = self.client.smembers(self.index(uid))
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in members]
        if not keys:
            return 0
        pipe = self.client.pipeline()
        pipe.delete(*keys)
        pipe.srem(self.index(uid), *keys)           # only these: a session created meanwhile stays listed
        ended, _ = pipe.execute()
        return int(ended)
