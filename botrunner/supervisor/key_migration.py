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

The conversations of releases before the one conversation store (the step under
`<prefix>state:<chat>:<user>`, the data under `<prefix>session:<user>:<chat>`, REDIS_SESSION_DB)
become `conv:` records the same way, once: each pair is read as the old store read it, written with
SET NX (never over a record a worker of this release wrote; the old keys' TTL, at most
SESSION_TTL_S) and then deleted, so a run cut short is finished by the next start. A marker key
records that the scan finished; later starts look no further.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import redis
from loguru import logger

from botrunner import redis_clients
from botrunner.bot.states import Conversation, RedisStates, states_from_settings
from botrunner.errors import UnsafePipeline
from botrunner.redis_keys import Keys
from botrunner.redis_replies import text

if TYPE_CHECKING:
    from botrunner.config.settings import Settings

_LANE = re.compile(r"lane:(\d+)(:attempts)?$")
_ID = r"-?\d+|None"             # how the old stores spelled a chat or user id (an f-string of int | None)
_OLD_CONVERSATION = re.compile(rf"state:(?P<chat>{_ID}):(?P<user>{_ID})|session:(?P<s_user>{_ID}):(?P<s_chat>{_ID})")
CONVERTED = "conv-format"       # under the bot's prefix: the old conversations are converted
BATCH = 500                     # old keys read and converted per round trip
PROGRESS_EVERY = 100_000        # a progress line per this many keys scanned (a big bot's first start: minutes)


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


def old_conversations(prefix: str, names: list[str]) -> list[tuple[int | None, int | None]]:
    """(chat, user) of every old-store key among `names`, once each."""
    pairs: list[tuple[int | None, int | None]] = []
    for name in names:
        if name.startswith(prefix) and (match := _OLD_CONVERSATION.fullmatch(name[len(prefix):])):
            chat, user = (match["chat"], match["user"]) if match["chat"] is not None else (match["s_chat"], match["s_user"])
            pair = (_id(chat), _id(user))
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def convert_conversations(settings: Settings, keys: Keys) -> int:
    """`migrate_conversations` on REDIS_SESSION_DB with the workers' store settings (TTL, encryption key)."""
    client = redis_clients.sync_client(settings, settings.redis_session_db, timeout=2)
    try:
        return migrate_conversations(states_from_settings(settings, client, keys.prefix))
    finally:
        client.close()


def migrate_conversations(states: RedisStates) -> int:
    """Convert this bot's conversations of the two old stores into records; returns how many."""
    client = states.redis
    if isinstance(client, redis.RedisCluster) or client.exists(states.prefix + CONVERTED):
        return 0
    converted = scanned = 0
    for names in _chunks(client.scan_iter(match=states.prefix + "*", count=1000), BATCH):
        converted += _convert(states, old_conversations(states.prefix, [text(n) for n in names]))
        scanned += len(names)
        if scanned // PROGRESS_EVERY > (scanned - len(names)) // PROGRESS_EVERY:
            logger.info("Conversations: {} key(s) looked at, {} converted to the one-key format so far "
                        "(once; later starts skip this)", scanned, converted)
    client.set(states.prefix + CONVERTED, 1)
    if converted:
        logger.warning("Conversations: converted {} of the old two-key format (state:/session:) to conv: records; "
                       "see docs/migration.md", converted)
    return converted


def _old_keys(prefix: str, chat: int | None, user: int | None) -> tuple[str, str]:
    return f"{prefix}state:{chat}:{user}", f"{prefix}session:{user}:{chat}"


def _convert(states: RedisStates, pairs: list[tuple[int | None, int | None]]) -> int:
    """Read each pair as the old store did, SET NX its record, delete its old keys; the records written."""
    reads = states.redis.pipeline(transaction=False)
    for chat, user in pairs:
        for key in _old_keys(states.prefix, chat, user):
            reads.get(key)
            reads.pttl(key)
    answers = iter(reads.execute())
    writes = states.redis.pipeline(transaction=False)
    sets = []                                  # which answers of `writes` are SET NX
    for chat, user in pairs:
        step, step_ttl, data, data_ttl = (next(answers) for _ in range(4))
        if step is None and data is None:
            continue                           # converted already: both keys are read for either
        found = states.read_value(data, chat, user) if data is not None else {}
        conversation = Conversation(text(step) if step is not None else None, found if isinstance(found, dict) else {})
        if not conversation.empty():
            ttl_ms = max(int(step_ttl), int(data_ttl))
            ttl_ms = min(ttl_ms, 1000 * states.ttl_s) if ttl_ms > 0 else 1000 * states.ttl_s
            writes.set(states.key(chat, user), states.encode(conversation), px=ttl_ms, nx=True)
            sets.append(len(writes))
        writes.delete(*_old_keys(states.prefix, chat, user))
    answers_w = writes.execute()
    return sum(1 for n in sets if answers_w[n - 1])


def _id(spelled: str) -> int | None:
    return None if spelled == "None" else int(spelled)


def _chunks(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
