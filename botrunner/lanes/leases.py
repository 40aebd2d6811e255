"""Lane leases: each lane stream is read by exactly one worker at a time, on any host.

Workers register with a heartbeat (botrunner.lanes.membership); every worker computes the same
assignment of lanes to live workers (botrunner.lanes.assignment: rendezvous hashing with bounded
loads, so every worker has floor or ceil(lanes / N) lanes; a join or a leave moves the lanes it must
plus the few needed to keep that bound) and takes the lanes assigned to it whose lease is free. A
lane changes owner only after the old lease is gone: released by its owner once its in-flight
updates are finished, or expired with a dead owner. The new owner first claims the pending entries
the previous owner left (its own included: entries a lost read reply left pending under it are
handled in stream order only by a new take). A release is announced on the lane events channel in
the same script, so the new owner (waiting for exactly that) takes the lane at once
(botrunner.lanes.events).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from loguru import logger

from botrunner.lanes.assignment import assign as assign  # re-exported: readers and tests import it from here
from botrunner.lease import ReplicaWait, deadline
from botrunner.redis_keys import GROUP, Keys
from botrunner.redis_replies import text
from botrunner.redis_scripts import pipelined

_RENEW_MANY = """
local kept = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    kept[#kept + 1] = i
  end
end
return kept
"""

_ACQUIRE = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if owner then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: the lane lease.  ARGV: our worker id, events channel, lane.  Like lease.RELEASE_IF_HELD, and
# announces the release, so whoever the lane is now assigned to takes it without waiting for a round.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released ' .. ARGV[3] .. ' ' .. ARGV[1])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Fence:
    """Who must still own a lane for a write to count: the lane lease key and the owner's worker id."""

    key: str
    owner: str
    lane: int = -1        # the lane: the journal of its updates lives in its slot


# KEYS: lane stream.  ARGV: group, this worker.  Delete consumers with nothing pending, in one step, so
# a read delivering to a consumer between "pending == 0" and the delete cannot lose its entries.
_FORGET_IDLE = """
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[2] and tonumber(f['pending']) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n
"""

# KEYS: lane stream.  ARGV: group.  Trim everything older than the oldest pending entry (or, with
# none pending, the last delivered one) in one step: an entry delivered meanwhile is never cut.
_TRIM = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1])
local minid = nil
if tonumber(p[1]) > 0 then
  minid = p[2]
else
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == ARGV[1] then minid = f['last-delivered-id'] end
  end
end
if minid and minid ~= '0-0' then return redis.call('XTRIM', KEYS[1], 'MINID', minid) end
return 0
"""


class LaneLeases:
    """The lanes one worker holds: acquire, renew in one round trip, release, claim pending entries."""

    def __init__(self, client: aioredis.Redis, keys: Keys, worker_id: str, lanes: int, ttl_ms: int,
                 replicas: int = 0) -> None:
        self.client = client
        self.wait = ReplicaWait(replicas, ttl_ms)      # LEASE_WAIT_REPLICAS
        self.keys = keys
        self.worker_id = worker_id
        self.lanes = lanes
        self.ttl_ms = ttl_ms
        self.valid_until: dict[int, float] = {}          # lane -> monotonic local deadline
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW_MANY)
        self._release = client.register_script(_RELEASE)
        self._forget_idle = client.register_script(_FORGET_IDLE)
        self._trim = client.register_script(_TRIM)

    @property
    def held(self) -> list[int]:
        return sorted(self.valid_until)

    def is_valid(self, lane: int) -> bool:
        """True while the lease on `lane` is ours with a safety margin; a handler starts only then."""
        return time.monotonic() < self.valid_until.get(lane, 0.0)

    def fence(self, lane: int) -> Fence:
        """The fence the journal and completion scripts check: lane:<n>:owner must still be us."""
        return Fence(self.keys.lane_owner(lane), self.worker_id, lane)

    async def ensure_groups(self) -> None:
        """Create every lane stream's consumer group (idempotent)."""
        for n in range(self.lanes):
            try:
                await self.client.xgroup_create(self.keys.lane(n), GROUP, id="0", mkstream=True)
            except aioredis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def acquire(self, lane: int) -> bool:
        """Take the lease on a free lane (or keep it, when it is still ours)."""
        sent = time.monotonic()
        taken, replicated = await self.wait.run_script(self.client, self._acquire, [self.keys.lane_owner(lane)],
                                                       [self.worker_id, self.ttl_ms])
        if taken and replicated:             # unreplicated: not ours yet (the next try re-checks it)
            self.valid_until[lane] = deadline(sent, self.ttl_ms)
            return True
        return False

    async def renew(self) -> list[int]:
        """Renew every held lease in one script; returns the lanes that were lost."""
        held = self.held
        if not held:
            return []
        sent = time.monotonic()
        # one script per lane (each lease has its lane's slot), all in one pipeline: one round trip per node;
        # with LEASE_WAIT_REPLICAS the WAIT goes last (on a cluster one per master: botrunner.lease.WaitTail)
        calls = [(self._renew, [self.keys.lane_owner(n)], [self.worker_id, self.ttl_ms]) for n in held]
        tail = await self.wait.tail(self.client, [self.keys.lane_owner(n) for n in held]) if self.wait.replicas else None
        replies = await pipelined(self.client, calls, tail)
        replicated = True
        if tail is not None:
            replies, acked = tail.split(replies)
            replicated = self.wait.confirmed(acked)
        kept_lanes = {n for n, kept in zip(held, replies) if kept}
        lost = [n for n in held if n not in kept_lanes]
        for n in kept_lanes if replicated else ():   # unconfirmed: deadlines stay where the last confirmed put them
            self.valid_until[n] = deadline(sent, self.ttl_ms)
        for n in lost:
            self.forget(n)
        return lost

    def forget(self, lane: int) -> None:
        """Stop counting the lease on `lane` as ours without touching Redis: it expires by its TTL."""
        self.valid_until.pop(lane, None)

    async def release(self, lane: int) -> bool:
        """Give a lane back (its in-flight updates must be finished first); True when the lease was still ours."""
        self.forget(lane)
        return bool(await self._release(keys=[self.keys.lane_owner(lane)],
                                        args=[self.worker_id, self.keys.lane_events, lane]))

    async def claim_pending(self, lane: int, batch: int = 500) -> list[tuple[bytes, dict]]:
        """Take over every entry the lane's previous owners read but did not acknowledge, oldest first."""
        claimed: list[tuple[bytes, dict]] = []
        removed: list[bytes] = []
        start: bytes | str = "0-0"
        deleted = False
        while True:
            reply = await self.client.xautoclaim(self.keys.lane(lane), GROUP, self.worker_id, min_idle_time=0,
                                                 start_id=start, count=batch)
            start, entries = reply[0], reply[1]
            got = [e for e in entries if e and e[1] is not None]
            claimed.extend(got)
            deleted = deleted or len(got) < len(entries)
            removed.extend(reply[2] if len(reply) > 2 else [])    # Redis 7 drops deleted ids from the PEL itself
            if start in (b"0-0", "0-0"):
                break
        if deleted or removed:
            await self._drop_deleted(lane, {e[0] for e in claimed}, None if deleted else [], removed)
        await self._forget_idle(keys=[self.keys.lane(lane)], args=[GROUP, self.worker_id])
        if claimed:
            logger.info("Lane {}: claimed {} pending update(s) left by its previous owner", lane, len(claimed))
        return sorted(claimed, key=lambda e: _entry_order(e[0]))

    async def claim_strays(self, lane: int) -> list[tuple[bytes, dict]]:
        """Claim entries pending under other consumers for longer than a lease TTL.

        Rare: a read that was in flight when a lane was lost delivers entries to a worker that no
        longer owns it. Nobody else would ever deliver them again, so the owner sweeps them up."""
        stream = self.keys.lane(lane)
        claimed: list[tuple[bytes, dict]] = []
        summary = await self.client.xpending(stream, GROUP)
        for consumer in summary.get("consumers") or []:
            name = text(consumer["name"])
            if name == self.worker_id:
                continue
            rows = await self.client.xpending_range(stream, GROUP, min="-", max="+", count=1000,
                                                    consumername=name, idle=self.ttl_ms)
            ids = [row["message_id"] for row in rows]
            if ids:
                entries = [e for e in await self.client.xclaim(stream, GROUP, self.worker_id, self.ttl_ms, ids)
                           if e and e[1] is not None]
                claimed.extend(entries)
                if len(entries) < len(ids):
                    await self._drop_deleted(lane, {e[0] for e in entries}, ids)
        if claimed:
            logger.warning("Lane {}: swept up {} update(s) left pending under a former owner", lane, len(claimed))
        return sorted(claimed, key=lambda e: _entry_order(e[0]))

    async def stranded(self, lane: int, held: set[str]) -> list[str]:
        """Ids pending under this worker for longer than a lease TTL that it does not hold in memory.

        A read whose reply was lost (a cut connection, a timeout after Redis delivered) leaves its
        entries pending under the reader, which never saw them; claim_strays skips its own consumer,
        so they would wait until the lane changed hands. The reader hands such a lane over and takes
        it anew (claim_pending): they are handled again in stream order."""
        rows = await self.client.xpending_range(self.keys.lane(lane), GROUP, min="-", max="+", count=1000,
                                                consumername=self.worker_id, idle=self.ttl_ms)
        return [text(row["message_id"]) for row in rows if text(row["message_id"]) not in held]

    async def _drop_deleted(self, lane: int, kept: set, ids: list | None = None,
                            removed: tuple | list = ()) -> None:
        """Pending ids whose entries were deleted (a trim race, MAXLEN, a human): acknowledge, count, log."""
        if ids is None:
            rows = await self.client.xpending_range(self.keys.lane(lane), GROUP, min="-", max="+", count=100_000,
                                                    consumername=self.worker_id)
            ids = [row["message_id"] for row in rows]
        gone = [i for i in ids if i not in kept] + list(removed)
        if not gone:
            return
        await self.client.xack(self.keys.lane(lane), GROUP, *gone)
        await self.client.hincrby(self.keys.faults, "deleted_claims", len(gone))  # type: ignore[misc]  # redis-py types async replies as "Awaitable[int] | int"
        logger.error("Lane {}: {} pending entr(ies) were deleted from the stream before being handled ({}...); "
                     "they cannot be delivered: counted in `botrunner status` as deleted claims", lane, len(gone),
                     text(gone[0]))

    async def trim(self, lane: int) -> None:
        """Drop acknowledged entries: everything older than the oldest pending (or last delivered) one."""
        await self._trim(keys=[self.keys.lane(lane)], args=[GROUP])


def _entry_order(entry_id: bytes | str) -> tuple[int, int]:
    ms, _, seq = text(entry_id).partition("-")
    return int(ms), int(seq or 0)
