"""Storing bot events (botrunner.bot.events) durably on their user's lane.

Invariant: an event is stored by the same intake script as Telegram's updates (dedup, XADD to the
lane of its chat), so once `store_event` returns it is as durable as a polled update and is
handled after every update of that user stored before it. Ids come from one INCR counter per bot,
negated, so they never meet Telegram's update ids.
"""
from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from botrunner import json_codec
from botrunner.bot.events import make_event
from botrunner.intake.store import Intake, lane_for
from botrunner.redis_keys import Keys


async def store_event(client: aioredis.Redis, keys: Keys, lanes: int, kind: str, user_id: int,
                      data: dict[str, Any], wait_replicas: int = 0, wait_timeout_ms: int = 1000) -> int:
    """Store one event for `user_id`; returns its (negative) update id once it is in the lane (and,
    with `wait_replicas` (INTAKE_WAIT_REPLICAS), on that many replicas: NotReplicated otherwise)."""
    update_id = -int(await client.incr(keys.event_seq))
    update = make_event(update_id, kind, user_id, data)
    entry = (update_id, lane_for(update, lanes), json_codec.dumps_str(update))
    added = await Intake(client, keys, wait_replicas, wait_timeout_ms).store_unleased([entry])
    if added != 1:
        raise RuntimeError(f"event {update_id} was not stored (its id was seen before)")
    return update_id
