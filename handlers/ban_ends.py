"""The end of a timed ban: the user is told when it happens, not at their next message.

/ban with a duration puts the user in a Redis sorted set scored by the ban's end (`bans:ends`);
/unban takes them out. A cluster job (handlers.cluster_jobs, every minute, one worker) lifts the
bans that have ended, in the store too (so exports and /user agree), and sends each user the
"unbanned" notice in their language. A user banned again meanwhile (a longer ban) is left alone.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from handlers.cluster_jobs import Job

BATCH = 500
SWEEP_S = 60.0


def _key(rt: Any) -> str:
    return rt.key("bans", "ends")


def schedule_end(rt: Any, user_id: int, until: float | None) -> None:
    """Remember when `user_id`'s ban ends (None: permanent, nothing to announce)."""
    if until is None:
        rt.redis.zrem(_key(rt), user_id)
    else:
        rt.redis.zadd(_key(rt), {str(user_id): until})


def forget(rt: Any, user_id: int) -> None:
    rt.redis.zrem(_key(rt), str(user_id))


def sweep(rt: Any, renew: Callable[[], None] = lambda: None, now: float | None = None) -> int:
    """Lift the bans that have ended and tell those users; returns how many were told."""
    now = time.time() if now is None else now
    told = 0
    while True:
        due = rt.redis.zrangebyscore(_key(rt), "-inf", now, start=0, num=BATCH)
        if not due:
            return told
        for raw in due:
            told += _end(rt, int(raw), now)
            rt.redis.zrem(_key(rt), raw)
        renew()


def _end(rt: Any, user_id: int, now: float) -> int:
    user = rt.store.users.get(user_id)
    if user is None or not user.banned or user.banned_until is None or user.banned_until > now:
        return 0                             # unbanned by hand, made permanent, or extended
    rt.store.users.unban(user_id)
    rt.api.send_message(user_id, rt.texts.get(rt.texts.pick(user.language_code), "unbanned"))
    return 1


def ban_ends_job(rt: Any) -> Job:
    return Job("ban-ends", SWEEP_S, lambda renew: sweep(rt, renew))
