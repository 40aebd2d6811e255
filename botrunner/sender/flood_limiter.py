"""Cluster-wide flood control in Redis: GCRA token buckets, 429 freezes and the blocked-chat set.

One Lua script per send decides everything in one round trip, on Redis' clock (so hosts need not
agree on the time): skip a blocked chat, wait out a frozen scope, then reserve a slot in the
chat bucket (+ the group bucket for groups, + the global or paid-broadcast bucket).

Three send classes (Telegram's FAQ: ~1 message/s per chat, 20/min per group, ~30/s for bulk
notifications): a REPLY (to the chat of the update being handled) takes the chat and group
buckets only; a NOTIFY (to another chat) also takes the global bucket and reserves its place
there; a BROADCAST takes only a global slot free now and leaves BULK_RESERVE of the global burst,
so broadcasts never starve notifications. Every class honours 429 freezes, the global one included.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from botrunner.redis_batch import ScriptBatcher, both
from botrunner.redis_keys import Keys
from botrunner.redis_replies import text

if TYPE_CHECKING:
    from botrunner.config.settings import Settings
    from botrunner.lanes.leases import Fence

# KEYS: blocked set, global freeze, chat freeze, chat tat, group tat, global (or paid) tat, its window log
#       (a list of the last sends' times, newest first), its broadcast wake-up hint, lane owner (all in the
#       {send} slot: `acquire` passes the blocked set there and checks the lane lease with STILL_OURS
#       beside this script, because the lease lives in its lane's slot)
# ARGV: chat id, bulk (0/1), counted (0/1), then interval ms and tolerance ms of the chat and group buckets
#       and of this class in the global bucket (interval 0: unlimited), sends allowed per window (0: no log),
#       horizon ms, window ms, a broadcast's catch-up ms, lane owner ('' = unfenced: always, see above)
# Returns {status, wait ms}: 1 = slot reserved, send after wait; 0 = nothing reserved, ask again after
# wait; -1 = the chat blocked the bot, skip; -2 = the update's lane is no longer ours, send nothing.
# A busy or frozen *chat* reserves nothing (its sender asks again when its slot comes), so it never
# pushes the shared global bucket into the future for other chats; a reply held only by the global
# bucket or a global freeze reserves its place there, first come first served. The window log keeps
# any window (Telegram's second) within its budget whatever the mix of bursts and broadcasts; a
# refused broadcast is told to come back one interval after the previous refused one, so the waiting
# broadcasts wake one at a time instead of all asking for the same slot. A broadcast takes only a slot
# that is due (never one ahead, so notifications keep the burst); woken late, it may take the slots it
# missed within its catch-up, so event-loop lateness costs it no rate.
# KEYS: lane owner.  ARGV: this worker.  1 while the lane is still ours.
STILL_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""

# the earliest time the per-second window log (newest first) allows the next send: after the newest
# entry, and a window after the oldest once it holds per_window (0: no log)
WINDOW_FLOOR = """
local function window_floor(log, per_window, window)
  if per_window <= 0 then return 0 end
  local floor = 0
  local newest = redis.call('LINDEX', log, 0)
  if newest then floor = tonumber(newest) end
  if redis.call('LLEN', log) >= per_window then
    floor = math.max(floor, tonumber(redis.call('LINDEX', log, -1)) + window)
  end
  return floor
end
"""

ACQUIRE = WINDOW_FLOOR + """
if ARGV[14] ~= '' and redis.call('GET', KEYS[9]) ~= ARGV[14] then return {-2, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
if ARGV[1] ~= '' and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {-1, 0} end
local function tat_of(key) return tonumber(redis.call('GET', key) or '0') end
local horizon = tonumber(ARGV[11])
local at = math.max(now, tonumber(redis.call('GET', KEYS[3]) or '0'))
local counted = ARGV[3] == '1'
local chat_tat, group_tat = 0, 0
if counted and tonumber(ARGV[4]) > 0 then
  chat_tat = tat_of(KEYS[4])
  at = math.max(at, chat_tat - tonumber(ARGV[5]))
end
local grouped = counted and KEYS[5] ~= KEYS[4] and tonumber(ARGV[6]) > 0
if grouped then
  group_tat = tat_of(KEYS[5])
  at = math.max(at, group_tat - tonumber(ARGV[7]))
end
if at > now + horizon then return {0, math.ceil(at - now)} end
at = math.max(at, tonumber(redis.call('GET', KEYS[2]) or '0'))
local interval, per_window, window = tonumber(ARGV[8]), tonumber(ARGV[10]), tonumber(ARGV[12])
local bulk = ARGV[2] == '1'
local global = counted and interval > 0
local global_tat, slot = 0, at
if global then
  global_tat = tat_of(KEYS[6])
  local log_min = window_floor(KEYS[7], per_window, window)
  at = math.max(at, global_tat - tonumber(ARGV[9]), log_min)
  slot = at
  -- a broadcast woken late takes the slot of the schedule it missed, within the catch-up (an idle
  -- bucket's schedule is older than that: it starts afresh, no burst)
  local missed = math.max(global_tat, log_min)
  if bulk and missed < at and missed >= at - tonumber(ARGV[13]) then slot = missed end
end
if bulk and at > now + 1 then
  local hint = math.max(at, tonumber(redis.call('GET', KEYS[8]) or '0'))
  redis.call('SET', KEYS[8], string.format('%.3f', hint + interval), 'PX', math.ceil(hint - now) + 1000)
  return {0, math.ceil(hint - now)}
end
local function take(key, tat, step, from)
  local next_tat = math.max(tat, from) + step
  redis.call('SET', key, string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now) + 1000)
end
if counted and tonumber(ARGV[4]) > 0 then take(KEYS[4], chat_tat, tonumber(ARGV[4]), at) end
if grouped then take(KEYS[5], group_tat, tonumber(ARGV[6]), at) end
if global then
  take(KEYS[6], global_tat, interval, slot)
  if per_window > 0 then            -- the log holds slots of the schedule (never more than the catch-up late)
    redis.call('LPUSH', KEYS[7], string.format('%.3f', slot))
    redis.call('LTRIM', KEYS[7], 0, per_window - 1)
    redis.call('PEXPIRE', KEYS[7], math.ceil(slot - now + window) + 1000)
  end
end
if bulk then return {1, 0} end
return {1, math.ceil(at - now)}
"""

# KEYS: chat freeze, global freeze, recent-429 zset.  ARGV: retry_after ms, chat id ('' = global),
# chats that make a 429 global, window ms.  Returns the scope frozen: 'chat' or 'global'.
FREEZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local ra = tonumber(ARGV[1])
local untl = now + ra
local function freeze(key)
  local cur = tonumber(redis.call('GET', key) or '0')
  if untl > cur then redis.call('SET', key, string.format('%.3f', untl), 'PX', math.ceil(ra) + 1000) end
end
local scope = 'global'
if ARGV[2] ~= '' then
  freeze(KEYS[1])
  redis.call('ZADD', KEYS[3], now, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[4]))
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  scope = 'chat'
  if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then scope = 'global'; redis.call('DEL', KEYS[3]) end
end
if scope == 'global' then freeze(KEYS[2]) end
return scope
"""

# Our clock (Redis TIME) and the server's arrival times differ by network and event-loop jitter. A chat's
# and a group's bucket are as deep as Telegram's (3 at once into a chat), so nothing absorbs that jitter
# but spacing their slots 10 % wider than the configured rate. The bot-wide bucket needs no such factor
# (it cost every broadcast 9 % of its rate): broadcasts take one slot at a time, exactly 1/rate apart,
# while Telegram's (and the local server's) bot-wide bucket holds about a second's burst, so arrival
# jitter is absorbed there, and the window log keeps every second within SEND_GLOBAL_RATE.
SAFETY = 1.1
EXACT = 1 + 1e-9         # the rate itself (a window's last slot falls just past its end, not on it)
WINDOW_MS = 1000         # Telegram counts the bot-wide limits per second
GLOBAL_429_WINDOW_MS = 10_000
HORIZON_MS = 20          # a slot this close counts as free now (sleep and clock rounding)
CATCH_UP_MS = 250        # a broadcast woken late may still take the slots of the schedule it missed this far
                         # back (or one slot, whichever is more; its own burst counts towards it), so a loop
                         # stalled by a loaded machine loses no rate; the window log still holds every second
                         # of slots to the rate, and sends at most this late stay within a bot-wide bucket a
                         # second deep (Telegram's ~30 a second, the local server's)

# Methods that post a message into a chat; Telegram's flood limits count these. Edits, callback
# answers and chat actions only honour freezes.
COUNTED = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendAudio", "sendVideo", "sendAnimation",
                     "sendVoice", "sendVideoNote", "sendSticker", "sendMediaGroup", "sendLocation", "sendVenue",
                     "sendContact", "sendPoll", "sendDice", "sendInvoice", "sendPaidMedia", "copyMessage",
                     "copyMessages", "forwardMessage", "forwardMessages"})


REPLY, NOTIFY, BROADCAST = "reply", "notify", "broadcast"
SEND_CLASSES = (REPLY, NOTIFY, BROADCAST)


@dataclass(frozen=True)
class Limits:
    """Rates as configured (0 = unlimited); `enabled=False` lifts every bucket (freezes still apply)."""

    chat_rate: float = 1.0
    chat_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 5
    global_rate: float = 30.0
    global_burst: int = 3
    bulk_reserve: int = 2
    paid_rate: float = 0.0
    global_429_chats: int = 3
    enabled: bool = True

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(s.send_chat_rate, s.send_chat_burst, s.send_group_per_minute, s.send_group_burst,
                   s.send_global_rate, s.send_global_burst, s.send_bulk_reserve, s.send_paid_broadcast_rate,
                   s.send_global_429_chats, s.send_limits)


def gcra(rate_per_s: float, burst: int, safety: float = SAFETY) -> tuple[float, float]:
    """(interval ms, tolerance ms) of a bucket; (0, 0) when unlimited."""
    if rate_per_s <= 0:
        return 0.0, 0.0
    interval = 1000.0 * safety / rate_per_s
    return interval, interval * (max(1, burst) - 1)


def gcra_in_window(rate_per_s: float, burst: int, window_s: float, safety: float = SAFETY) -> tuple[float, float]:
    """(interval ms, tolerance ms) of a bucket whose burst counts against a window Telegram enforces.

    A bucket that lets its burst through and then runs at the rate sends burst + window / interval - 1
    in the first window: 23 a minute into a group at 20/min with a burst of 5. Here the interval is
    widened until burst + the rest of the window fits the limit (rate x window)."""
    if rate_per_s <= 0:
        return 0.0, 0.0
    limit = rate_per_s * window_s
    burst = max(1, min(burst, int(limit)))
    interval = 1000.0 * safety * max(1.0 / rate_per_s, window_s / (limit - burst + 1))
    return interval, interval * (burst - 1)


def per_window(rate_per_s: float) -> int:
    """Sends the window log allows per WINDOW_MS at this rate (0: unlimited, no log)."""
    return 0 if rate_per_s <= 0 else max(1, int(rate_per_s * WINDOW_MS / 1000 + 1e-9))


class FloodLimiter:
    """The cluster-wide limiter of one bot: `acquire` before a send, `freeze` on a 429."""

    def __init__(self, client: aioredis.Redis, keys: Keys, limits: Limits, batcher: ScriptBatcher | None = None) -> None:
        self.client = client
        self.keys = keys
        self.limits = limits
        self._acquire = batcher.script(ACQUIRE) if batcher else client.register_script(ACQUIRE)
        self._fence = batcher.script(STILL_OURS) if batcher else client.register_script(STILL_OURS)
        self._freeze = client.register_script(FREEZE)
        on = limits.enabled
        self.chat = gcra(limits.chat_rate if on else 0, limits.chat_burst)
        self.group = gcra_in_window(limits.group_per_minute / 60.0 if on else 0, limits.group_burst, 60.0)
        global_rate, paid_rate = (limits.global_rate, limits.paid_rate) if on else (0.0, 0.0)
        # Telegram counts the bot-wide limits per second: a notification's burst is part of that second,
        # not on top (and the window log holds every second to the rate, whatever the mix)
        self.global_ = gcra_in_window(global_rate, limits.global_burst, 1.0, safety=EXACT)
        self.paid = gcra_in_window(paid_rate, limits.global_burst, 1.0, safety=EXACT)
        # a broadcast goes exactly at the rate, its burst short of the reserve it leaves to notifications
        # (a reserve as large as the burst would shut bulk out for good: at least one slot stays for it)
        reserve = min(limits.bulk_reserve, max(0, limits.global_burst - 1))
        self.bulk = gcra(global_rate, limits.global_burst - reserve, safety=EXACT)
        self.window = per_window(global_rate), per_window(paid_rate)
        self.catch_up = max(0.0, max(CATCH_UP_MS, self.bulk[0]) - self.bulk[1])

    async def acquire(self, chat_id: int | str | None, counted: bool, send_class: str = NOTIFY,
                      paid: bool = False, fence: Fence | None = None) -> tuple[int, float]:
        """(status, seconds to wait): 1 reserved (send after the wait), 0 ask again after it, -1 chat blocked,
        -2 `fence` (the lane of the update being handled) is no longer this worker's."""
        chat = "" if chat_id is None else str(chat_id)
        group = isinstance(chat_id, int) and chat_id < 0 or chat.startswith("@")
        bulk = send_class == BROADCAST
        paid = bulk and paid and self.limits.paid_rate > 0
        k = self.keys
        bucket = "paid" if paid else "global"
        keys = [k.send_blocked, k.send_freeze_global, k.send_freeze_chat(chat), k.send_tat("chat", chat),
                k.send_tat("group", chat) if group else k.send_tat("chat", chat),
                k.send_tat(bucket, ""), k.send_tat(bucket, "log"), k.send_tat(bucket, "hint"), k.send_blocked]
        top = (0.0, 0.0) if send_class == REPLY else self.paid if paid else self.bulk if bulk else self.global_
        window = 0 if send_class == REPLY else self.window[1] if paid else self.window[0]
        args: list[str | int | float] = [chat, int(bulk and not paid), int(counted and bool(chat)), *self.chat,
                                         *self.group, *top, window, HORIZON_MS, WINDOW_MS, self.catch_up, ""]
        if fence is None:
            status, wait_ms = await self._acquire(keys=keys, args=args)
        else:   # the lane lease lives in the lane's slot: checked beside the limiter's script, same round trip
            ours: Any
            ours, (status, wait_ms) = await both(self._fence(keys=[fence.key], args=[fence.owner]),
                                                 self._acquire(keys=keys, args=args))
            if not int(ours):
                return -2, 0.0      # a slot it may have reserved goes unused: that bucket waits one interval
        return int(status), max(0, int(wait_ms)) / 1000.0

    async def freeze(self, chat_id: int | str | None, retry_after_s: float) -> str:
        """Freeze the 429's scope for every worker; returns 'chat', 'group' or 'global'."""
        chat = "" if chat_id is None else str(chat_id)
        k = self.keys
        scope = await self._freeze(keys=[k.send_freeze_chat(chat), k.send_freeze_global, k.send_recent_429],
                                   args=[int(retry_after_s * 1000), chat, self.limits.global_429_chats,
                                         GLOBAL_429_WINDOW_MS])
        scope = text(scope)
        if scope == "chat" and (chat.startswith("-") or chat.startswith("@")):
            return "group"
        return scope

    async def mark_blocked(self, chat_id: int | str) -> bool:
        """Flag a chat that blocked the bot (or is gone); True when it was not flagged yet."""
        return bool(await self.client.sadd(self.keys.send_blocked, str(chat_id)))  # type: ignore[misc]  # redis-py types async replies as "Awaitable[int] | int"
