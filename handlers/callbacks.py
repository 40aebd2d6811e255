"""One-time action tokens behind confirm buttons.

Every button's data is signed for its user (botrunner.bot.callback_data.Signer, keyed by the bot
token; verified by the gate), and typed by a CallbackData class in its feature module. Money and
other irreversible actions go through `offer()` / `claim()` / `consume()`: an opaque token in Redis
with a TTL. The first update that claims it owns it: another click (another update) is refused,
while a redelivery of the same update (the runner is at-least-once) may claim it again.
The handler moves the money keyed by the token (idempotent in storage) and only then consumes the
token, so a crash in between loses nothing and the redelivery completes the action exactly once.
A consumed token keeps its owner for CLAIMED_TTL_S, so even a redelivery after the handler finished
finds the stored result and answers again instead of "expired".
"""
from __future__ import annotations

import json
import secrets
from typing import Any

from botrunner.bot.context import Context

CLAIMED_TTL_S = 3600          # a claimed token outlives its offer so a late redelivery can finish

# KEYS: token, its owner; ARGV: user, action, update id, CLAIMED_TTL_S
_CLAIM = """
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[3] then return nil end
local raw = redis.call('GET', KEYS[1])
if not raw then
  if owner then return '{"data": {}}' end
  return nil
end
local item = cjson.decode(raw)
if tostring(item['user']) ~= ARGV[1] or item['action'] ~= ARGV[2] then return nil end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return raw
"""


def token_key(rt: Any, token: str, *rest: str) -> str:
    """Key of an action token (and of its owner): the token is a hash tag, so both share a Redis
    Cluster slot and the claim script may touch them together."""
    return rt.key("act", "{" + token + "}", *rest)


def offer(ctx: Context, action: str, data: dict[str, Any], ttl_s: int) -> str:
    """Store an action the user may confirm once within ttl_s; returns the token for the button."""
    rt = ctx.services.bot
    token = secrets.token_urlsafe(9)
    item = {"user": ctx.user_id, "action": action, "data": data}
    rt.redis.set(token_key(rt, token), json.dumps(item), ex=ttl_s)
    return token


def claim(ctx: Context, action: str, token: str) -> dict[str, Any] | None:
    """The action's data for the user it was offered to, and for one update only (this one, or its
    redelivery); None when expired or claimed by another update (a double click); {} when this
    very update consumed it already (look the result up by the token's key)."""
    rt = ctx.services.bot
    if not token or len(token) > 32:
        return None
    raw = rt.redis.eval(_CLAIM, 2, token_key(rt, token), token_key(rt, token, "owner"), str(ctx.user_id), action,
                        str(ctx.update_id), CLAIMED_TTL_S)
    return json.loads(raw)["data"] if raw else None


def consume(ctx: Context, token: str) -> None:
    """The action is done (or refused): the offer is gone; its owner stays, so only this update's
    redelivery gets past `claim` (with {}) until CLAIMED_TTL_S passes."""
    rt = ctx.services.bot
    pipe = rt.redis.pipeline()
    pipe.delete(token_key(rt, token))
    pipe.set(token_key(rt, token, "owner"), str(ctx.update_id), ex=CLAIMED_TTL_S)
    pipe.execute()


def release(ctx: Context, token: str) -> None:
    """Give a claimed token back (nothing was done, say the user was busy): the next click may claim it."""
    rt = ctx.services.bot
    owner = token_key(rt, token, "owner")
    if rt.redis.get(owner) == str(ctx.update_id).encode():
        rt.redis.delete(owner)


def claim_confirmation(ctx: Context, action: str, token: str) -> tuple[str, dict[str, Any]] | None:
    """A confirm button's token: (token, offered data) for this update, or None after telling the
    user the button expired (already used, timed out, or someone else's)."""
    offered = claim(ctx, action, token)
    if offered is None:
        ctx.answer(ctx.services.bot.t(ctx, "action_expired"), show_alert=True)
        return None
    return token, offered


def drop(ctx: Context, token: str) -> None:
    """Cancel an offered action (the Cancel button); a claimed one is being carried out and stays."""
    rt = ctx.services.bot
    claim_any = rt.redis.get(token_key(rt, token))
    if claim_any and json.loads(claim_any).get("user") == ctx.user_id and not rt.redis.exists(
            token_key(rt, token, "owner")):
        rt.redis.delete(token_key(rt, token))
