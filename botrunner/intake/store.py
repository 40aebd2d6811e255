"""Intake: store one getUpdates batch durably, fenced by the poll lease, in one Lua script.

For each update: skip it if its update_id was seen in the last 24 h (a field in a hash of 128
update_ids, about 10 bytes each instead of a key per update), else XADD it to its lane
stream. Then store next_offset. Only after this returns does the poller send the next
getUpdates(offset), which confirms (deletes) the batch on Telegram's side. A stale poller
(its lease value no longer current) writes nothing. With INTAKE_WAIT_REPLICAS=N the batch also
counts as stored only once WAIT says N replicas have it: with asynchronous replication, a
failover right after the confirmation would otherwise lose a batch Telegram no longer holds.

Webhook intake runs the same script without the lease keys (`store_unleased`): no fence and no
offset, only dedup + XADD. It needs no lease because Telegram itself serialises a chat: it sends
a chat's next update only after the previous POST was answered, and the POST is answered only
after this script returned.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from loguru import logger

from botrunner.errors import LeaseLost, NotReplicated
from botrunner.redis_keys import DEDUP_TTL_S, Keys

# KEYS: poll lease, poll offset, poll last (none: webhook intake, unfenced, no offset).  ARGV: lease
# value, next offset, key prefix, dedup ttl, (unused: poll:last is stamped with Redis' clock), then
# triples (update_id, lane, raw json).
# Lane keys are built here from the prefix, so this script (like the whole pipeline) needs one
# Redis, not a Redis Cluster.
_INTAKE = """
local leased = #KEYS > 0
if leased and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local added = 0
for i = 6, #ARGV, 3 do
  local id = tonumber(ARGV[i])
  local bucket = ARGV[3] .. 'seen:' .. string.format('%d', math.floor(id / 128))
  if redis.call('HSETNX', bucket, string.format('%d', id % 128), '1') == 1 then
    redis.call('EXPIRE', bucket, ARGV[4])
    redis.call('XADD', ARGV[3] .. 'lane:' .. ARGV[i + 1], '*', 'update_id', ARGV[i], 'update', ARGV[i + 2])
    added = added + 1
  end
end
if leased then
  redis.call('SET', KEYS[2], ARGV[2])
  local t = redis.call('TIME')
  redis.call('SET', KEYS[3], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
return added
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
        entries.append((update_id, lane_for(item, lanes), json.dumps(item, separators=(",", ":"))))
        highest = update_id if highest is None else max(highest, update_id)
    # next offset follows the batch, not the old offset: after a week idle Telegram restarts update_ids
    # at a random value, possibly lower than the offset we stored
    next_offset = offset if highest is None else highest + 1
    if highest is not None and offset and highest + 1 < offset:
        logger.warning("update_id jumped back from {} to {} (Telegram picks a new start after a week idle); "
                       "accepting the new sequence", offset, highest)
    return Batch(entries, next_offset, rejected)


class Intake:
    """Runs the intake script for one bot."""

    def __init__(self, client: aioredis.Redis, keys: Keys, wait_replicas: int = 0, wait_timeout_ms: int = 1000) -> None:
        self.client = client
        self.keys = keys
        self.wait_replicas = wait_replicas       # INTAKE_WAIT_REPLICAS: 0 for a single Redis
        self.wait_timeout_ms = wait_timeout_ms
        self._script = client.register_script(_INTAKE)

    async def store(self, batch: Batch, lease_value: str) -> int:
        """Store the batch and next_offset atomically; returns how many updates were new.

        Raises LeaseLost, or NotReplicated when WAIT saw fewer replicas than asked (WAIT counts the
        writes of its own connection, so the script and WAIT share one pipeline)."""
        args: list[Any] = [lease_value, batch.next_offset, self.keys.prefix, DEDUP_TTL_S, 0]
        for entry in batch.entries:
            args.extend(entry)
        keys = [self.keys.poll_lease, self.keys.poll_offset, self.keys.poll_last]
        added = await self._replicated(keys, args)
        if added == -1:
            raise LeaseLost("the poll lease changed hands before the batch was stored")
        return int(added)

    async def store_unleased(self, entries: list[tuple[int, int, str]]) -> int:
        """Webhook intake: dedup + XADD only (no lease, no offset); returns how many updates were new.
        With INTAKE_WAIT_REPLICAS, raises NotReplicated (the POST is answered 5xx, Telegram retries)."""
        args: list[Any] = ["", 0, self.keys.prefix, DEDUP_TTL_S, 0]
        for entry in entries:
            args.extend(entry)
        return int(await self._replicated([], args))

    async def _replicated(self, keys: list[str], args: list[Any]) -> Any:
        """The script's reply, once WAIT saw INTAKE_WAIT_REPLICAS replicas take it (NotReplicated if not)."""
        if not self.wait_replicas:
            return await self._script(keys=keys, args=args)
        async with self.client.pipeline(transaction=False) as pipe:
            await self._script(keys=keys, args=args, client=pipe)
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
            added, replicas = await pipe.execute()
        if int(replicas) < self.wait_replicas and added != -1:
            raise NotReplicated(f"{replicas} of {self.wait_replicas} replica(s) acknowledged the batch within "
                                f"{self.wait_timeout_ms} ms")
        return added

    async def offset(self) -> int:
        """The stored next offset (0 when none: ask for everything pending)."""
        raw = await self.client.get(self.keys.poll_offset)
        return int(raw) if raw else 0
