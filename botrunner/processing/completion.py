"""Completion and dead letters: the last step of an update's life in its lane.

`begin` is the first round trip of an update: already completed? count the attempt and read the
outbox journal (one script in the lane's slot), and clear (or set) the user's blocked flag (one in
the limiter's slot), batched together. `complete` runs after
the handler's writes are durable: it sets the completion marker for the update_id (so a
redelivery is recognised and skipped) and XACKs the entry, in one script, and only while
`{lane:<n>}:owner` is still this worker (a worker paused past its lease cannot acknowledge what the
new owner is about to handle: LaneLost, counted as `stale_owner`). It also carries the outcome of
the update's last call when the sender left it to it (one round trip less per reply): written to
the journal when fenced out, moot otherwise (the journal goes with the completion).
Attempts are counted in Redis before each try, so an update that kills its worker also counts;
after MAX_ATTEMPTS it goes to the dead-letter stream with its error and is acknowledged.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from loguru import logger

from botrunner.errors import LaneLost
from botrunner.lanes.leases import Fence
from botrunner.metrics import record
from botrunner.redis_batch import ScriptBatcher, both
from botrunner.redis_keys import DONE_TTL_S, GROUP, Keys
from botrunner.redis_replies import text
from botrunner.sender.journal import FLAG

# KEYS: lane stream, attempts hash, done bucket, lane owner, outbox journal: all in the lane's slot.
# ARGV: entry id, group, done ttl, owner ('' = unfenced), done field, journal field of the last call
# ('' = none), its outcome.  -1 when the lane is no longer ours (the last call's outcome is kept then;
# the caller counts `stale_owner`: the faults hash has a slot of its own).
# The journal is dropped here: once acknowledged the entry is never redelivered, so nobody reads it.
_COMPLETE = """
if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[4] then
  if ARGV[6] ~= '' then
    redis.call('HSET', KEYS[5], ARGV[6], ARGV[7])
    redis.call('EXPIRE', KEYS[5], ARGV[3])
  end
  return -1
end
redis.call('HSET', KEYS[3], ARGV[5], '1')
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('DEL', KEYS[5])
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
"""

# KEYS: done bucket, attempts hash, outbox journal (the lane's slot).  ARGV: entry id, done field.
# {0} when already completed, else {attempt count, journal field, ...}: what was already sent.
_BEGIN = """
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return {0} end
local out = {redis.call('HINCRBY', KEYS[2], ARGV[1], 1)}
for _, seq in ipairs(redis.call('HKEYS', KEYS[3])) do out[#out + 1] = seq end
return out
"""

# Dead-lettering is two scripts, because the dead stream has a slot of its own: first the entry is
# written to it, then acknowledged in its lane. A crash between leaves the entry pending; its redelivery
# is dead-lettered again (a second dead entry for the same update_id), never lost.
# KEYS: dead stream, dead count.  ARGV: update_id, raw update, error, attempts, lane, now ms, max length
_DEAD_WRITE = """
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*', 'update_id', ARGV[1], 'update', ARGV[2],
           'error', ARGV[3], 'attempts', ARGV[4], 'lane', ARGV[5], 'at', ARGV[6])
return redis.call('INCR', KEYS[2])
"""

# KEYS: lane stream, attempts hash, outbox journal (the lane's slot).  ARGV: entry id, group
_DEAD_ACK = """
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
"""

DEAD_LETTERS_KEPT = 100_000


@dataclass
class Begun:
    """What `begin` found: the attempt (0 = completed already), whether the user's blocked flag changed,
    and the journal fields of the calls already sent (a redelivery skips them)."""

    attempt: int
    flag_changed: bool = False
    confirmed: set[str] = field(default_factory=set)


class Completion:
    """Attempt counting, completion markers with XACK, and the dead-letter stream of one bot."""

    def __init__(self, client: aioredis.Redis, keys: Keys, batcher: ScriptBatcher | None = None) -> None:
        self.client = client
        self.keys = keys
        script = batcher.script if batcher else client.register_script     # the hot path's two go batched
        self._complete = script(_COMPLETE)
        self._dead_write = client.register_script(_DEAD_WRITE)
        self._dead_ack = client.register_script(_DEAD_ACK)
        self._begin = script(_BEGIN)
        self._flag = script(FLAG)          # the blocked set is the limiter's ({send} slot)

    async def is_done(self, lane: int, update_id: int) -> bool:
        """True when this update was already handled to completion (a redelivery: skip it)."""
        done = self.client.hexists(self.keys.done(lane, update_id), self.keys.bucket_field(update_id))
        return bool(await done)  # type: ignore[misc]  # redis-py types async replies as "Awaitable[bool] | bool"

    async def begin(self, lane: int, entry_id: str, update_id: int, user_id: int | None = None,
                    kicked: bool = False) -> Begun:
        """`is_done` + `start_attempt` + the journal read (the lane's slot) and the user's blocked flag
        (the limiter's slot): two scripts, called together, so batched they share one round trip."""
        begin = self._begin(keys=[self.keys.done(lane, update_id), self.keys.attempts(lane),
                                  self.keys.send_journal(lane, update_id)],
                            args=[entry_id, self.keys.bucket_field(update_id)])
        if user_id is None:
            reply, changed = await begin, 0
        else:
            flag = self._flag(keys=[self.keys.send_blocked], args=[user_id, "kicked" if kicked else "write"])
            reply, changed = await both(begin, flag)
        if int(reply[0]) == 0:
            return Begun(0)
        return Begun(int(reply[0]), bool(changed), {text(x) for x in reply[1:]})

    async def start_attempt(self, lane: int, entry_id: str) -> int:
        """Count one more attempt at this entry and return the count (1 for the first try)."""
        return int(await self.client.hincrby(self.keys.attempts(lane), entry_id, 1))  # type: ignore[misc]  # redis-py types async replies as "Awaitable[int] | int"

    async def complete(self, lane: int, entry_id: str, update_id: int, fence: Fence | None = None,
                       last_call: tuple[str, str] | None = None) -> bool:
        """Completion marker + XACK, after the handler's writes are durable; LaneLost when fenced out.
        False when the entry was acknowledged already (another worker finished it first).
        `last_call`: (journal field, outcome) of a call the sender did not journal itself."""
        owner_key = fence.key if fence else self.keys.lane_owner(lane)
        field_, outcome = last_call or ("", "")
        done = await self._complete(keys=[self.keys.lane(lane), self.keys.attempts(lane),
                                          self.keys.done(lane, update_id), owner_key,
                                          self.keys.send_journal(lane, update_id)],
                                    args=[entry_id, GROUP, DONE_TTL_S, fence.owner if fence else "",
                                          self.keys.bucket_field(update_id), field_, outcome])
        if done == -1:
            await self.count_fault("stale_owner")
            raise LaneLost(f"lane {lane} changed owner before update {update_id} was acknowledged")
        return bool(done)

    async def count_fault(self, name: str) -> None:
        """One more fault survived, in the `faults` hash `botrunner status` shows."""
        await self.client.hincrby(self.keys.faults, name, 1)  # type: ignore[misc]  # redis-py types async replies as "Awaitable[int] | int"

    async def skip(self, lane: int, entry_id: str) -> None:
        """Acknowledge an entry that needs no handling (already completed)."""
        await self.client.xack(self.keys.lane(lane), GROUP, entry_id)
        await self.client.hdel(self.keys.attempts(lane), entry_id)  # type: ignore[misc]  # redis-py types async replies as "Awaitable[int] | int"
        record.update_duplicate()

    async def dead_letter(self, lane: int, entry_id: str, update_id: int, raw: str, error: str,
                          attempts: int) -> None:
        """Move an update that keeps failing (or cannot be parsed) to the dead-letter stream."""
        await self._dead_write(keys=[self.keys.dead, self.keys.dead_count],
                               args=[update_id, raw, error[:4000], attempts, lane, int(time.time() * 1000),
                                     DEAD_LETTERS_KEPT])
        await self._dead_ack(keys=[self.keys.lane(lane), self.keys.attempts(lane),
                                   self.keys.send_journal(lane, update_id)], args=[entry_id, GROUP])
        record.dead_lettered()
        logger.error("Update {} dead-lettered after {} attempt(s) (lane {}): {}", update_id, attempts, lane,
                     error.splitlines()[-1] if error else "unknown error")
