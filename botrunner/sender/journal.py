"""The outbox journal: which calls of an update's outbox were already sent, keyed update_id:seq.

A handler's calls are numbered 0..n-1 in the order it queued them (a redelivered update runs the
handler again and queues the same calls). Each final outcome is written right after the call
returns, so a redelivery skips what was confirmed. The remaining window: a crash after Telegram
accepted a call and before its journal write resends that one call (the Bot API has no idempotency keys).
"""
from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from botrunner.redis_keys import DONE_TTL_S, Keys

REMEMBER_TTL_S = 86400

# KEYS: journal hash, blocked set.  ARGV: user id ('' = none), 'kicked' / 'write' / ''.
# Returns {blocked flag changed (0/1), seq, seq, ...}: the update's user wrote (or blocked us), and
# what was already sent: one round trip before the outbox goes out.
BEGIN = """
local changed = 0
if ARGV[1] ~= '' then
  if ARGV[2] == 'kicked' then changed = redis.call('SADD', KEYS[2], ARGV[1])
  else changed = redis.call('SREM', KEYS[2], ARGV[1]) end
end
local out = {changed}
for _, seq in ipairs(redis.call('HKEYS', KEYS[1])) do out[#out + 1] = tonumber(seq) end
return out
"""

UPDATE_KINDS_WITH_FROM = ("message", "edited_message", "callback_query", "inline_query", "chosen_inline_result",
                          "my_chat_member", "chat_member", "chat_join_request", "pre_checkout_query",
                          "shipping_query", "poll_answer", "message_reaction", "business_message")


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


class OutboxJournal:
    """Confirmed calls per update (a hash with the same 24 h life as the completion marker)."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._begin = client.register_script(BEGIN)

    async def begin(self, update_id: int, user_id: int | None, kicked: bool) -> tuple[bool, set[int]]:
        """(the user's blocked flag changed, seqs already confirmed) in one round trip."""
        args = ["" if user_id is None else str(user_id), "kicked" if kicked else "write"]
        reply = await self._begin(keys=[self.keys.send_journal(update_id), self.keys.send_blocked], args=args)
        return bool(reply[0]), {int(x) for x in reply[1:]}

    async def confirm(self, update_id: int, seq: int, outcome: str) -> None:
        """Record the final outcome of call `seq` ('sent', 'failed', 'blocked'): never sent again."""
        key = self.keys.send_journal(update_id)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(key, str(seq), outcome)
            pipe.expire(key, DONE_TTL_S)
            await pipe.execute()

    async def remember(self, name: str, message_id: int) -> None:
        """Keep the id of a sent message under `name` for a day (the sender's `_remember_as`)."""
        await self.client.set(self.keys.remembered(name), message_id, ex=REMEMBER_TTL_S)
