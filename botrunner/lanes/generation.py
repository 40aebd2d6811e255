"""Data-loss detection: a generation key that vanishes with the data.

Redis can lose everything without the pipeline noticing: a restart without AOF, FLUSHALL, eviction,
a failover to an empty replica. Streams come back on the next XADD, but their consumer groups do
not, so every read fails with NOGROUP. Each worker remembers the generation ("<n>:<random>") it
saw; when the key is gone (or changed under it) the data was lost: the worker logs it loudly,
takes (or adopts) generation n+1, counts the loss in the `faults` hash and recreates the groups.
Updates that were stored but not yet read when the data went are gone for good (Telegram had
them confirmed): that window is documented and measured by the chaos suite.
"""
from __future__ import annotations

import secrets

import redis.asyncio as aioredis
from loguru import logger

from botrunner.redis_keys import Keys
from botrunner.redis_replies import text

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


def losses(generation: str | None) -> int:
    """Data losses detected since the first boot, read from a generation value ("<n>:<random>")."""
    try:
        return max(0, int((generation or "1:").split(":", 1)[0]) - 1)
    except ValueError:
        return 0


class Generation:
    """One worker's view of the data generation."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.known = ""
        self._check = client.register_script(_CHECK)

    async def check(self) -> bool:
        """Compare with Redis; True when the data was lost since the last check (the caller recreates groups)."""
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
        return verdict in (1, 2)
