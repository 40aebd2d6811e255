"""Broadcast slots for many recipients in one Redis round trip (the limiter's bulk side, batched).

`BroadcastSlots.take(chats)` runs one Lua script that walks the recipients in order and, for each,
does what FloodLimiter's ACQUIRE does for one broadcast send: skip a chat that blocked the bot, leave
a frozen or busy chat alone (it reserves nothing; its sender asks for it alone, as before), else
take the chat's slot and a global (or paid) slot that is due now. It stops at the first recipient
whose global slot is not due yet and tells when it will be.

Invariant: every slot it hands out is one ACQUIRE would have handed out to a broadcast asking at
that moment: the same GCRA schedule (exactly SEND_GLOBAL_RATE, the burst short of the reserve kept
for notifications), the same window log (no second of slots holds more than the rate), the same
freezes; nothing is reserved ahead. Woken late, it takes the slots of the schedule it missed within
the limiter's catch-up (FloodLimiter.catch_up), so loop lateness costs no rate while each second
of slots stays within its budget.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from botrunner.sender.flood_limiter import WINDOW_FLOOR, WINDOW_MS, FloodLimiter

if TYPE_CHECKING:
    from botrunner.redis_batch import BatchedScript

# KEYS: blocked set, global freeze, global (or paid) tat, its window log, then per recipient its chat
#       freeze and chat tat (all in the {send} slot).
# ARGV: chat interval ms, chat tolerance ms (interval 0: no chat bucket), bulk interval ms, bulk
#       tolerance ms, sends per window (0: no log), window ms, catch-up ms, then the chat ids.
# Returns {wait ms, status of each recipient looked at}: 1 = slot taken, send now; 0 = its chat is
# frozen or busy, nothing reserved; -1 = the chat blocked the bot. Recipients past the returned
# statuses were not looked at: the global schedule has no due slot before `wait`.
TAKE = WINDOW_FLOOR + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local chat_iv, chat_tol = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval, tol = tonumber(ARGV[3]), tonumber(ARGV[4])
local per_window, window, catch_up = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local frozen = tonumber(redis.call('GET', KEYS[2]) or '0')
if frozen > now + 1 then return {math.ceil(frozen - now)} end
local global_tat = tonumber(redis.call('GET', KEYS[3]) or '0')
local out = {0}
local taken = 0
local last_slot = 0
for i = 8, #ARGV do
  local chat = ARGV[i]
  local k = 5 + (i - 8) * 2
  if redis.call('SISMEMBER', KEYS[1], chat) == 1 then
    out[#out + 1] = -1
  else
    local at = math.max(now, tonumber(redis.call('GET', KEYS[k]) or '0'))
    local chat_tat = 0
    if chat_iv > 0 then
      chat_tat = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
      at = math.max(at, chat_tat - chat_tol)
    end
    if at > now + 1 then
      out[#out + 1] = 0
    else
      local log_min = 0
      if interval > 0 then log_min = window_floor(KEYS[4], per_window, window) end
      local slot = at
      if interval > 0 then
        local due = math.max(at, global_tat - tol, log_min)
        if due > now + 1 then out[1] = math.ceil(due - now); break end
        slot = due
        local missed = math.max(global_tat, log_min)
        if missed < due and missed >= due - catch_up then slot = missed end
        global_tat = math.max(global_tat, slot) + interval
        if per_window > 0 then
          redis.call('LPUSH', KEYS[4], string.format('%.3f', slot))
          redis.call('LTRIM', KEYS[4], 0, per_window - 1)
        end
      end
      if chat_iv > 0 then
        local next_tat = math.max(chat_tat, at) + chat_iv
        redis.call('SET', KEYS[k + 1], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now) + 1000)
      end
      taken = taken + 1
      last_slot = math.max(last_slot, slot)
      out[#out + 1] = 1
    end
  end
end
if taken > 0 and interval > 0 then
  redis.call('SET', KEYS[3], string.format('%.3f', global_tat), 'PX', math.ceil(global_tat - now) + 1000)
  if per_window > 0 then redis.call('PEXPIRE', KEYS[4], math.ceil(last_slot - now + window) + 1000) end
end
return out
"""


class BroadcastSlots:
    """The broadcast class of one FloodLimiter, many recipients per call: `take(chats, paid)`."""

    def __init__(self, limiter: FloodLimiter, script: BatchedScript | None = None) -> None:
        self.limiter = limiter
        self._take = script or limiter.client.register_script(TAKE)

    async def take(self, chats: list[int], paid: bool = False) -> tuple[list[int], float]:
        """(a status per recipient looked at, seconds until the next global slot is due when it stopped
        short): 1 send now, 0 its chat is frozen or busy (ask for it alone), -1 blocked."""
        lim = self.limiter
        paid = paid and lim.limits.paid_rate > 0
        k = lim.keys
        bucket = "paid" if paid else "global"
        keys = [k.send_blocked, k.send_freeze_global, k.send_tat(bucket, ""), k.send_tat(bucket, "log")]
        for chat in chats:
            keys += [k.send_freeze_chat(str(chat)), k.send_tat("chat", str(chat))]
        interval, tolerance = lim.paid if paid else lim.bulk
        args: list[str | int | float] = [*lim.chat, interval, tolerance, lim.window[1] if paid else lim.window[0],
                                         WINDOW_MS, lim.catch_up, *chats]
        reply = await self._take(keys=keys, args=args)
        wait_ms, *statuses = (int(x) for x in reply)
        return statuses, max(0, wait_ms) / 1000.0
