"""The recent refusals of the gate (a non-admin trying an admin action, a banned user writing, a rate
limit hit, a device held by another account), for the admin web's security screen.

Invariant: one capped Redis list per bot (`<bot prefix>refusals`, newest first, at most KEEP entries,
each a small JSON object without message text), so recording costs one round trip and never grows.
Recording never fails the update: a Redis error is logged and ignored.
"""
from __future__ import annotations

import json
import time
from typing import Any

from loguru import logger

KEEP = 200


def note(rt: Any, kind: str, user_id: int | None, detail: str = "") -> None:
    """Record one refusal (`kind`: "admin_only", "banned", "rate_limit", "device_taken", ...)."""
    entry = json.dumps({"at": round(time.time(), 3), "kind": kind, "user_id": user_id, "detail": detail[:80]})
    try:
        pipe = rt.redis.pipeline(transaction=False)
        pipe.lpush(rt.key("refusals"), entry)
        pipe.ltrim(rt.key("refusals"), 0, KEEP - 1)
        pipe.execute()
    except Exception as exc:          # the refusal itself already happened; only the record is lost
        logger.warning("Could not record a refusal ({!r})", exc)


def recent(rt: Any, limit: int = KEEP) -> list[dict[str, Any]]:
    """The latest refusals, newest first."""
    return [json.loads(raw) for raw in rt.redis.lrange(rt.key("refusals"), 0, limit - 1)]
