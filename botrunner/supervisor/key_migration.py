"""The one-time move from the key layout before hash tags to the current one (botrunner.redis_keys).

Releases before the Redis Cluster support named keys `botrunner:<bot>:lane:<n>`, `...:poll:offset`
and so on. At start, before any worker runs, the supervisor renames what carries state over a
restart (RENAMENX: never over a key the current layout already has; on one Redis each rename is
atomic): the poll offset and fence, every lane stream with its consumer group and pending entries
(the next owner claims them, in order), their attempts, the dead letters and their count, the data
generation, the faults counters and the blocked-chat set. Leases, the registry and flood buckets
are not carried (they expire in seconds). The old seen/done markers are left to expire: with the
offset carried, no update comes back from Telegram that they would have caught.

A supervisor of an old release still running on this Redis would poll beside the new one: when the
old poll lease is held, start is refused (stop every host, then upgrade). A Redis Cluster is always
a new deployment (the old layout could not run on one), so nothing is looked for there.
"""
from __future__ import annotations

import re

import redis
from loguru import logger

from botrunner.errors import UnsafePipeline
from botrunner.redis_keys import Keys
from botrunner.redis_replies import text

_LANE = re.compile(r"lane:(\d+)(:attempts)?$")


def renames(keys: Keys, old_names: list[str]) -> list[tuple[str, str]]:
    """(old, new) for every old-layout key among `old_names` that carries state."""
    p = keys.prefix
    fixed = {p + "poll:offset": keys.poll_offset, p + "poll:fence": keys.poll_fence, p + "poll:last": keys.poll_last,
             p + "poll:error": keys.poll_error, p + "dead": keys.dead, p + "dead:count": keys.dead_count,
             p + "generation": keys.generation, p + "faults": keys.faults, p + "send:blocked": keys.send_blocked}
    out = []
    for name in old_names:
        if name in fixed:
            out.append((name, fixed[name]))
        elif name.startswith(p) and (match := _LANE.fullmatch(name[len(p):])):
            lane = int(match.group(1))
            out.append((name, keys.attempts(lane) if match.group(2) else keys.lane(lane)))
    return sorted(out)


def migrate_layout(client: redis.Redis, keys: Keys) -> int:
    """Rename the old layout's keys of this bot; returns how many were moved. Raises UnsafePipeline when
    an old-release poller still holds its lease."""
    if isinstance(client, redis.RedisCluster):
        return 0
    if client.exists(keys.prefix + "poll:lease"):
        raise UnsafePipeline(f"a supervisor of an older botrunner release still polls for this bot (key "
                             f"{keys.prefix}poll:lease is held): stop it on every host, then start this release "
                             "(its key layout differs; docs/migration.md)")
    old = [text(k) for k in client.scan_iter(match=keys.prefix + "*", count=1000) if "{" not in text(k)]
    moved = 0
    for source, target in renames(keys, old):
        if client.renamenx(source, target):
            moved += 1
        else:
            logger.warning("Key layout: {} not moved, {} exists already", source, target)
    if moved:
        logger.warning("Key layout: moved {} key(s) of this bot to the hash-tagged layout (lanes, offset, dead "
                       "letters, counters); see docs/migration.md", moved)
    return moved
