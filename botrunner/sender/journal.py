"""The outbox journal: which calls of an update's outbox were already sent, keyed update_id, then
the call's position plus a digest of the call.

A handler's calls are numbered 0..n-1 in the order it queued them (a redelivered update runs the
handler again and queues the same calls). Each final outcome is written right after the call
returns, so a redelivery skips what was confirmed; the last call's outcome may instead go with the
completion marker (`Delivery.defer_last`: one round trip less per reply, nothing else runs between
the two). In a worker the journal is read once per update, by the completion's `begin` script
(`Delivery`); `OutboxJournal.begin` is the same read on its own. The writes are fenced by the lane
lease, and so is the limiter's slot before each call: a worker that no longer owns the update's
lane starts no call and stops after the call in flight. The remaining window: a crash after
Telegram accepted a call and before its journal write resends that one call (the Bot API has no
idempotency keys).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from botrunner.errors import LaneLost
from botrunner.lanes.leases import Fence
from botrunner.redis_batch import ScriptBatcher
from botrunner.redis_keys import DONE_TTL_S, Keys
from botrunner.redis_replies import text
from botrunner.redis_scripts import Call, pipelined

REMEMBER_TTL_S = 86400

# KEYS: journal hash, lane owner (the lane's slot; absent when unfenced).  ARGV: owner ('' = unfenced).  Returns {0, seq, ...}:
# what was already sent, one round trip before the outbox goes out; {-1} when the lane is no longer
# ours (a stale owner sends nothing).
BEGIN = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return {-1} end
local out = {0}
for _, seq in ipairs(redis.call('HKEYS', KEYS[1])) do out[#out + 1] = seq end
return out
"""

# KEYS: blocked set (the limiter's slot).  ARGV: user id, 'kicked' / 'write'.  1 when the flag changed.
# Pipelined with BEGIN (one round trip); on a cluster it is a command of its own on another node, so
# the flag may change for an update whose lane was just lost: the flag is right either way (the user
# wrote or blocked us), only that worker's `on_blocked_bot` hook does not run for it.
FLAG = """
if ARGV[2] == 'kicked' then return redis.call('SADD', KEYS[1], ARGV[1]) end
return redis.call('SREM', KEYS[1], ARGV[1])
"""

# KEYS: journal hash, lane owner (absent when unfenced).  ARGV: field, outcome, ttl, owner ('' = unfenced).
# The outcome is always recorded (the call went out); 0 tells the sender the lane moved: stop.
CONFIRM = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end
return 1
"""

UPDATE_KINDS_WITH_FROM = ("message", "edited_message", "callback_query", "inline_query", "chosen_inline_result",
                          "my_chat_member", "chat_member", "chat_join_request", "pre_checkout_query",
                          "shipping_query", "poll_answer", "message_reaction", "business_message")


@dataclass
class Delivery:
    """One update's outbox as this worker knows it: the journal fields already confirmed (read at begin,
    plus what this worker sent since) and, with `defer_last`, the last call's (field, outcome), written
    by the completion script instead of a confirm of its own."""

    confirmed: set[str] = field(default_factory=set)
    defer_last: bool = False
    last_call: tuple[str, str] | None = None


def update_user(update: dict[str, Any]) -> tuple[int | None, bool]:
    """(user id, True when this update says the user blocked the bot) of a raw update."""
    for kind in UPDATE_KINDS_WITH_FROM:
        body = update.get(kind)
        if isinstance(body, dict):
            user = body.get("from") or body.get("user") or {}
            uid = user.get("id") if isinstance(user, dict) else None
            if not isinstance(uid, int):
                return None, False
            chat = body.get("chat") or {}
            kicked = (kind == "my_chat_member" and chat.get("type") == "private"
                      and (body.get("new_chat_member") or {}).get("status") == "kicked")
            return uid, kicked
    return None, False


def call_key(seq: int, method: str, params: dict[str, Any]) -> str:
    """Journal field of one queued call: its position plus a digest of what it sends.

    A re-run whose calls differ (the handler read state it had changed itself) neither skips a new
    call because an old one sat at its position, nor resends one that was confirmed."""
    body = json.dumps([method, params], sort_keys=True, separators=(",", ":"), default=_blob)
    return f"{seq}:{hashlib.blake2b(body.encode(), digest_size=6).hexdigest()}"


def _blob(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return hashlib.blake2b(bytes(value), digest_size=8).hexdigest()
    return repr(value)


class OutboxJournal:
    """Confirmed calls per update (a hash with the same 24 h life as the completion marker)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, batcher: ScriptBatcher | None = None) -> None:
        self.client = client
        self.keys = keys
        self._begin = client.register_script(BEGIN)
        self._flag = client.register_script(FLAG)
        self._confirm = batcher.script(CONFIRM) if batcher else client.register_script(CONFIRM)

    async def begin(self, update_id: int, user_id: int | None, kicked: bool,
                    fence: Fence | None = None) -> tuple[bool, set[str]]:
        """(the user's blocked flag changed, call keys already confirmed) in one round trip.

        Raises LaneLost when `fence` names a lane this worker no longer owns: nothing is sent."""
        lane = fence.lane if fence else -1
        calls: list[Call] = [(self._begin, [self.keys.send_journal(lane, update_id), *([fence.key] if fence else [])],
                              [fence.owner if fence else ""])]
        if user_id is not None:
            calls.append((self._flag, [self.keys.send_blocked], [user_id, "kicked" if kicked else "write"]))
        replies = await pipelined(self.client, calls)
        reply = replies[0]
        if int(reply[0]) == -1:
            raise LaneLost(f"the lane of update {update_id} changed owner before its replies went out")
        return bool(replies[1]) if len(replies) > 1 else False, {text(x) for x in reply[1:]}

    async def confirm(self, update_id: int, key: str, outcome: str, fence: Fence | None = None) -> None:
        """Record the final outcome of one call ('sent', 'failed', 'blocked'): never sent again.

        Raises LaneLost (after recording) when the lane moved meanwhile: the rest is not sent."""
        lane = fence.lane if fence else -1
        still_ours = await self._confirm(keys=[self.keys.send_journal(lane, update_id), *([fence.key] if fence else [])],
                                         args=[key, outcome, DONE_TTL_S, fence.owner if fence else ""])
        if not still_ours:
            raise LaneLost(f"the lane of update {update_id} changed owner while its replies went out")

    async def remember(self, name: str, message_id: int) -> None:
        """Keep the id of a sent message under `name` for a day (the sender's `_remember_as`)."""
        await self.client.set(self.keys.remembered(name), message_id, ex=REMEMBER_TTL_S)
