"""Intake: store one getUpdates batch durably: one script per lane, then the offset, fenced by the poll lease.

For each update: skip it if its update_id was seen in the last 24 h (a field in a hash of the
lane's update_ids, about 10 bytes each instead of a key per update), else XADD it to its lane
stream. Dedup and XADD are one script per lane, because a lane and everything keyed by it share
a Redis Cluster slot (botrunner.redis_keys); the lane scripts of a batch go out in one pipeline
(one round trip per node). Only when every lane script succeeded is next_offset written, by a
script that first checks the lease value is still ours. Only after that does the poller send the
next getUpdates(offset), which confirms (deletes) the batch on Telegram's side.

A stale poller (its lease value no longer current) cannot move the offset (LeaseLost). The lane
writes it may have made are harmless: the updates of its batch are also in the batch the current
holder fetches from the unmoved offset, and whichever stores an update_id first stores it once; a
lane script is atomic, so a chat's updates still enter its lane in order.

With INTAKE_WAIT_REPLICAS=N the batch counts as stored only once WAIT says N replicas have it: with
asynchronous replication, a failover right after the confirmation would otherwise lose a batch
Telegram no longer holds. On a Redis Cluster every master the batch's lanes went to is waited for,
concurrently, and the batch counts as stored only when each says N (botrunner.lease.WaitTail).

Webhook intake runs only the lane scripts (`store_unleased`): no fence and no offset. It needs no
lease because Telegram itself serialises a chat: it sends a chat's next update only after the
previous POST was answered, and the POST is answered only after the lane script returned.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from loguru import logger

from botrunner import json_codec
from botrunner.errors import LeaseLost, NotReplicated
from botrunner.lease import WaitTail
from botrunner.redis_keys import DEDUP_TTL_S, Keys
from botrunner.redis_scripts import pipelined

# KEYS: the lane stream, then the seen bucket of each update.  ARGV: dedup ttl, then pairs (field in
# its bucket, raw json) in update_id order, and the update_ids last (one per seen key).
# Returns how many updates were new.
INTAKE_LANE = """
local n = #KEYS - 1
local added = 0
for i = 1, n do
  local bucket = KEYS[i + 1]
  if redis.call('HSETNX', bucket, ARGV[2 * i], '1') == 1 then
    redis.call('EXPIRE', bucket, ARGV[1])
    redis.call('XADD', KEYS[1], '*', 'update_id', ARGV[2 * n + 1 + i], 'update', ARGV[2 * i + 1])
    added = added + 1
  end
end
return added
"""

# KEYS: poll lease, poll offset, poll last.  ARGV: lease value, next offset.  -1 when the lease is not
# ours (nothing written); poll:last is stamped with Redis' clock.
OFFSET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[2], ARGV[2])
local t = redis.call('TIME')
redis.call('SET', KEYS[3], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return 1
"""


def routing_id(update: dict[str, Any]) -> int | None:
    """The chat id of an update (else its user id): updates sharing it are handled in order."""
    for value in update.values():
        if not isinstance(value, dict):
            continue
        for path in (("chat", "id"), ("message", "chat", "id"), ("from", "id"), ("user", "id")):
            found: Any = value
            for step in path:
                found = found.get(step) if isinstance(found, dict) else None
            if isinstance(found, int) and not isinstance(found, bool):
                return found
    return None


def lane_for(update: dict[str, Any], lanes: int) -> int:
    """Lane of an update: crc32 of its chat (else user) id, modulo LANES; lane 0 when it has neither."""
    key = routing_id(update)
    return 0 if key is None else zlib.crc32(str(key).encode()) % lanes


@dataclass
class Batch:
    """The valid updates of one getUpdates answer and the offset that confirms them."""

    entries: list[tuple[int, int, str]]     # (update_id, lane, raw json)
    next_offset: int
    rejected: int                            # items without a usable update_id (logged, skipped)


def prepare(updates: list[Any], lanes: int, offset: int) -> Batch:
    """Validate and route one batch. Items that are not objects with an integer update_id are skipped."""
    entries, rejected, highest = [], 0, None
    for item in updates:
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            logger.warning("Skipping a malformed update without an integer update_id: {:.200}", repr(item))
            rejected += 1
            continue
        entries.append((update_id, lane_for(item, lanes), json_codec.dumps_str(item)))
        highest = update_id if highest is None else max(highest, update_id)
    # next offset follows the batch, not the old offset: after a week idle Telegram restarts update_ids
    # at a random value, possibly lower than the offset we stored
    next_offset = offset if highest is None else highest + 1
    if highest is not None and offset and highest + 1 < offset:
        logger.warning("update_id jumped back from {} to {} (Telegram picks a new start after a week idle); "
                       "accepting the new sequence", offset, highest)
    return Batch(entries, next_offset, rejected)


def lane_calls(keys: Keys, entries: list[tuple[int, int, str]]) -> list[tuple[list[str], list[Any]]]:
    """(KEYS, ARGV) of one INTAKE_LANE call per lane, each lane's updates in batch order."""
    by_lane: dict[int, list[tuple[int, str]]] = {}
    for update_id, lane, raw in entries:
        by_lane.setdefault(lane, []).append((update_id, raw))
    calls = []
    for lane, items in by_lane.items():
        script_keys = [keys.lane(lane), *(keys.seen(lane, uid) for uid, _ in items)]
        args: list[Any] = [DEDUP_TTL_S]
        for uid, raw in items:
            args.extend((keys.bucket_field(uid), raw))
        args.extend(uid for uid, _ in items)
        calls.append((script_keys, args))
    return calls


class Intake:
    """Runs the intake scripts for one bot (one Redis or a Redis Cluster: the same calls)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, wait_replicas: int = 0, wait_timeout_ms: int = 1000) -> None:
        self.client = client
        self.keys = keys
        self.wait_replicas = wait_replicas       # INTAKE_WAIT_REPLICAS (0: off)
        self.wait_timeout_ms = wait_timeout_ms
        self._lane = client.register_script(INTAKE_LANE)
        self._offset = client.register_script(OFFSET)

    async def store(self, batch: Batch, lease_value: str) -> int:
        """Store the batch's lanes, then next_offset fenced by the lease; returns how many updates were new.

        Raises LeaseLost (the offset stays: the current holder fetches the batch again and dedup
        keeps one copy), or NotReplicated when WAIT saw fewer replicas than asked, before the offset
        is written (WAIT counts the writes of its own connection, so the lane scripts and WAIT share
        one pipeline; a lost offset write only fetches the batch again, so the offset is not waited for)."""
        added = await self._store_lanes(batch.entries)
        written = await self._offset(keys=[self.keys.poll_lease, self.keys.poll_offset, self.keys.poll_last],
                                     args=[lease_value, batch.next_offset])
        if written == -1:
            raise LeaseLost("the poll lease changed hands before the batch's offset was stored")
        return added

    async def store_unleased(self, entries: list[tuple[int, int, str]]) -> int:
        """Webhook intake: dedup + XADD only (no lease, no offset); returns how many updates were new.
        With INTAKE_WAIT_REPLICAS, raises NotReplicated (the POST is answered 5xx, Telegram retries)."""
        return await self._store_lanes(entries)

    async def _store_lanes(self, entries: list[tuple[int, int, str]]) -> int:
        """Every lane script of a batch in one pipeline (one round trip per node), then WAIT when asked;
        returns how many updates were new, or raises NotReplicated."""
        calls = [(self._lane, k, a) for k, a in lane_calls(self.keys, entries)]
        wait = self.wait_replicas
        if not calls:
            return 0
        if not wait:
            return sum(int(r) for r in await pipelined(self.client, calls))
        tail = await WaitTail.after(self.client, [k[0] for _, k, _ in calls], wait, self.wait_timeout_ms)
        replies, acked = tail.split(await pipelined(self.client, calls, tail))
        if acked < wait:
            raise NotReplicated(f"{acked} of {wait} replica(s) acknowledged the batch within "
                                f"{self.wait_timeout_ms} ms" + (f" on one of its {len(tail.nodes)} masters"
                                                                if len(tail.nodes) > 1 else ""))
        return sum(int(r) for r in replies)

    async def offset(self) -> int:
        """The stored next offset (0 when none: ask for everything pending)."""
        raw = await self.client.get(self.keys.poll_offset)
        return int(raw) if raw else 0

