"""Data-loss detection: generation markers that vanish with the data.

Redis can lose everything without the pipeline noticing: a restart without AOF, FLUSHALL, eviction,
a failover to an empty replica. Streams come back on the next XADD, but their consumer groups do
not, so every read fails with NOGROUP. Each worker remembers the generation ("<n>:<random>") it
saw; when the marker is gone (or changed under it) the data was lost: the worker logs it loudly,
takes (or adopts) generation n+1, counts the loss in the `faults` hash and recreates the groups.
Updates that were stored but not yet read when the data went are gone for good (Telegram had
them confirmed): that window is documented and measured by the chaos suite.

On one Redis there is one marker (`Keys.generation`): every lane is lost together. On a Redis
Cluster one master can lose its data alone, so every lane has a marker of its own in its own slot
(`Keys.lane_generation`): it lives and dies with the lane's stream, on whichever master serves the
slot (a resharding moves it with the stream; no node discovery). A check reads every lane's marker
in one pipeline (one round trip per node) and reports exactly the lanes whose data went. Two
workers that see the same loss write the same new marker value (derived from the one they knew),
so the loss is counted once (`_COUNT_LOSS`: one record per loss in the `{meta}` slot).
"""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from loguru import logger
from redis.asyncio.cluster import RedisCluster

from botrunner.redis_keys import DEDUP_TTL_S, Keys
from botrunner.redis_replies import text
from botrunner.redis_scripts import pipelined

# KEYS: generation, faults hash.  ARGV: the generation this worker knows ('' at boot), a fresh one.
# Returns {verdict, current}: 0 unchanged, 1 we detected the loss (took the fresh generation),
# 2 another worker already did (adopt), 3 first boot (took it).
_CHECK = """
local cur = redis.call('GET', KEYS[1])
if cur and cur == ARGV[1] then return {0, cur} end
if cur then
  if ARGV[1] == '' then return {0, cur} end
  return {2, cur}
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[1] == '' then return {3, ARGV[2]} end
redis.call('HINCRBY', KEYS[2], 'data_loss', 1)
return {1, ARGV[2]}
"""

# One lane's marker on a cluster: _CHECK without the count (the faults hash is in another slot).
_CHECK_LANE = """
local cur = redis.call('GET', KEYS[1])
if cur and (cur == ARGV[1] or ARGV[1] == '') then return {0, cur} end
if cur then return {2, cur} end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[1] == '' then return {3, ARGV[2]} end
return {1, ARGV[2]}
"""

# KEYS: the loss records, faults hash, generation.  ARGV: the loss's id, its ttl, the generation's <n> this
# worker knows (the {meta} master may be the one that lost its data).  Counts a loss once however many
# workers saw it; the generation's <n> - 1 counts the losses (for `botrunner status`).
# Returns {1 when this call counted it, the generation}.
_COUNT_LOSS = """
local cur = redis.call('GET', KEYS[3]) or '1:'
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return {0, cur} end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'data_loss', 1)
local n = math.max(tonumber(string.match(cur, '^(%d+):')) or 1, tonumber(ARGV[3]))
local new = (n + 1) .. ':' .. ARGV[1]
redis.call('SET', KEYS[3], new)
return {1, new}
"""


def losses(generation: str | None) -> int:
    """Data losses detected since the first boot, read from a generation value ("<n>:<random>")."""
    try:
        return max(0, int((generation or "1:").split(":", 1)[0]) - 1)
    except ValueError:
        return 0


def successor(known: str) -> str:
    """The generation after `known`: the same for every worker that knew it, so they agree on it."""
    n = int(known.split(":", 1)[0]) if known else 0
    return f"{n + 1}:{hashlib.blake2b(known.encode(), digest_size=4).hexdigest()}"


class Generation:
    """One worker's view of the data generation (one marker on one Redis, one per lane on a cluster)."""

    def __init__(self, client: Any, keys: Keys, lanes: int = 1) -> None:
        self.client = client
        self.keys = keys
        self.lanes = lanes
        self.per_lane = isinstance(client, RedisCluster)
        self.known = ""
        self.known_lanes: dict[int, str] = {}
        self._check = client.register_script(_CHECK)
        self._check_lane = client.register_script(_CHECK_LANE)
        self._count = client.register_script(_COUNT_LOSS)

    async def check(self) -> frozenset[int]:
        """Compare with Redis; the lanes whose data was lost since the last check (empty: none).
        The caller recreates the groups and takes back what it let go of in those lanes."""
        if self.per_lane:
            return await self._check_lanes()
        n = int(self.known.split(":", 1)[0]) if self.known else 0
        fresh = f"{n + 1}:{secrets.token_hex(4)}"
        verdict, current = await self._check(keys=[self.keys.generation, self.keys.faults], args=[self.known, fresh])
        previous, self.known = self.known, text(current)
        if verdict == 1:
            logger.critical("REDIS DATA LOSS: the generation key {} vanished (restart without AOF, FLUSHALL, eviction "
                            "or a failover to an empty replica). Recreating the consumer groups and carrying on; "
                            "updates stored but not yet read are lost. Check the Redis persistence settings.",
                            previous)
        elif verdict == 2:
            logger.critical("REDIS DATA LOSS detected by another worker (generation {} -> {}); recreating the "
                            "consumer groups", previous, self.known)
        return frozenset(range(self.lanes)) if verdict in (1, 2) else frozenset()

    async def _check_lanes(self) -> frozenset[int]:
        """Every lane's marker in one pipeline; a lost lane's marker is rewritten with its successor."""
        if not self.known:                       # the losses counted so far, in case {meta} loses them
            self.known = text(await self.client.get(self.keys.generation) or b"1:")
        calls = []
        for n in range(self.lanes):
            known = self.known_lanes.get(n, "")
            calls.append((self._check_lane, [self.keys.lane_generation(n)], [known, successor(known)]))
        replies = await pipelined(self.client, calls)
        lost: dict[int, str] = {}
        for n, (verdict, current) in enumerate(replies):
            self.known_lanes[n] = text(current)
            if int(verdict) in (1, 2):
                lost[n] = text(current)
        if lost:
            await self._report(lost)
        return frozenset(lost)

    async def _report(self, lost: dict[int, str]) -> None:
        """Count the loss once (its id: the first lost lane and its new marker, the same for every worker
        that saw it) and say loudly which lanes lost what."""
        first = min(lost)
        counted, generation = await self._count(keys=[self.keys.data_losses, self.keys.faults, self.keys.generation],
                                                args=[f"{first}-{lost[first]}", DEDUP_TTL_S, max(1, losses(self.known) + 1)])
        self.known = text(generation)
        lanes = ",".join(str(n) for n in sorted(lost))
        if counted:
            logger.critical("REDIS DATA LOSS on the cluster master(s) serving lanes {}: their generation markers "
                            "vanished (FLUSHALL, a restart without AOF, a failover to an empty replica). Recreating "
                            "the consumer groups and carrying on; updates of these lanes stored but not yet read "
                            "are lost. Check that master's persistence settings.", lanes)
        else:
            logger.warning("Redis data loss on lanes {} (already counted by another worker); recreating the "
                           "consumer groups", lanes)
