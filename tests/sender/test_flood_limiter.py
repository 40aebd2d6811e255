"""Component tests of the cluster-wide limiter on the real Redis: buckets, priorities, freezes, blocked chats."""
from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from botrunner.redis_keys import Keys
from botrunner.sender.flood_limiter import BROADCAST, REPLY, FloodLimiter, Limits
from botrunner.sender.journal import OutboxJournal, update_user

KEYS = Keys.for_token("555:limiter")


def run(redis_url, scenario):
    async def main():
        client = aioredis.from_url(redis_url)
        try:
            return await scenario(client)
        finally:
            await client.aclose()
    return asyncio.run(main())


def test_chat_bucket_allows_the_burst_then_spaces_sends(redis_url):
    """Waits are checked against the time the calls took, so a slow machine only widens the bounds."""
    async def scenario(client):
        limiter = FloodLimiter(client, KEYS, Limits(chat_rate=1.0, chat_burst=3))
        started = time.monotonic()
        burst = [await limiter.acquire(42, True) for _ in range(5)]
        burst_took = time.monotonic() - started
        await asyncio.sleep(burst[3][1])
        later = await limiter.acquire(42, True)
        started = time.monotonic()
        after = await limiter.acquire(42, True)
        return burst, burst_took, later, after, time.monotonic() - started
    burst, burst_took, later, after, after_took = run(redis_url, scenario)
    assert burst[:3] == [(1, 0), (1, 0), (1, 0)]
    assert burst[3][0] == 0 and 0.9 - burst_took <= burst[3][1] <= 1.2     # a busy chat reserves nothing: ask again
    assert burst[4][0] == 0 and burst[4][1] <= burst[3][1]                 # the same slot, asked a moment later
    assert burst[3][1] - burst[4][1] <= burst_took + 0.01
    assert later[0] == 1 and later[1] <= 0.05                              # when the slot comes, it is there
    assert after[0] == 0 and 0.9 - after_took <= after[1] <= 1.2


def test_other_chats_do_not_wait_for_a_busy_chat(redis_url):
    async def scenario(client):      # a global burst with room for all: only the busy chat could hold them back
        limiter = FloodLimiter(client, KEYS, Limits(global_burst=30))
        for _ in range(10):
            await limiter.acquire(42, True)
        return [await limiter.acquire(chat, True) for chat in range(100, 110)]
    assert all(wait == 0 for _, wait in run(redis_url, scenario))


def test_groups_get_the_per_minute_bucket_and_the_global_bucket_counts_all(redis_url):
    async def scenario(client):
        limiter = FloodLimiter(client, KEYS, Limits(chat_rate=100, chat_burst=100, group_per_minute=20, group_burst=5,
                                                    global_rate=30, global_burst=25))
        group = [await limiter.acquire(-1001, True) for _ in range(6)]
        spread = [await limiter.acquire(chat, True) for chat in range(1, 41)]
        return group, spread
    group, spread = run(redis_url, scenario)
    assert group[:5] == [(1, 0)] * 5 and group[5][0] == 0 and group[5][1] >= 2.5     # 20/min: 3 s apart
    assert sum(1 for _, w in spread if w == 0) <= 25 - 5 + 1          # 5 of the global burst went to the group
    assert all(status == 1 for status, _ in spread) and spread[-1][1] > 0.3     # the rest queued in order
    assert [w for _, w in spread] == sorted(w for _, w in spread)


def test_uncounted_methods_and_lifted_limits_never_wait(redis_url):
    async def scenario(client):
        lifted = FloodLimiter(client, KEYS, Limits(enabled=False))
        counted = [await lifted.acquire(42, True) for _ in range(200)]
        normal = FloodLimiter(client, KEYS, Limits())
        edits = [await normal.acquire(43, False) for _ in range(20)]     # editMessageText, answerCallbackQuery
        return counted + edits
    assert all(status == 1 and wait == 0 for status, wait in run(redis_url, scenario))


def test_the_lane_fence_holds_with_the_limits_lifted(redis_url):
    """SEND_LIMITS=false lifts the buckets, not the fence: a worker that lost the update's lane sends nothing."""
    from botrunner.lanes.leases import Fence

    async def scenario(client):
        lifted = FloodLimiter(client, KEYS, Limits(enabled=False))
        await client.set(KEYS.lane_owner(3), "the-new-owner")
        stale = await lifted.acquire(42, True, send_class=REPLY, fence=Fence(KEYS.lane_owner(3), "w"))
        owner = await lifted.acquire(42, True, send_class=REPLY, fence=Fence(KEYS.lane_owner(3), "the-new-owner"))
        await client.delete(KEYS.lane_owner(3))
        expired = await lifted.acquire(42, True, fence=Fence(KEYS.lane_owner(3), "w"))
        return stale, owner, expired
    stale, owner, expired = run(redis_url, scenario)
    assert stale[0] == -2 and expired[0] == -2
    assert owner == (1, 0)


def test_bulk_never_reserves_ahead_and_leaves_slots_for_replies(redis_url):
    """The schedule frees one slot per interval while the calls run, so each check is stated against the
    times the calls were made: a slow machine lets more calls through later, never a slot early."""
    interval_s, slack_s = 1 / 30, 0.002        # a grant needs its slot within 1 ms; waits are rounded up

    async def timed(call):
        before = time.monotonic()
        status, wait = await call
        return before, time.monotonic(), status, wait

    async def scenario(client):
        limiter = FloodLimiter(client, KEYS, Limits(chat_rate=0, global_rate=30, global_burst=25, bulk_reserve=10))
        bulk = [await timed(limiter.acquire(1000 + n, True, send_class=BROADCAST)) for n in range(40)]
        replies = [await timed(limiter.acquire(n, True)) for n in range(10)]
        late_bulk = await timed(limiter.acquire(2000, True, send_class=BROADCAST))
        return bulk, replies, late_bulk
    bulk, replies, late_bulk = run(redis_url, scenario)
    granted = [call for call in bulk if call[2] == 1]
    refused = [call for call in bulk if call[2] == 0]
    assert all(status == 1 for _, _, status, _ in bulk[:10])              # the burst above the reserve
    assert all(wait == 0 for *_, wait in granted)                         # never a slot ahead
    assert refused and all(wait > 0 for *_, wait in refused)              # a refusal says when to come back
    first = refused[0]
    assert len(granted) <= 15 + int((bulk[-1][1] - bulk[0][0]) / interval_s) + 1
    assert all(after >= first[0] + first[3] / 1000 - slack_s               # nothing before the slot it named
               for _, after, status, _ in bulk[bulk.index(first):] if status == 1)
    # the reserve is there for replies, as far as the second's 30 (the window log) is not spent by bulk sends
    # the schedule freed while the calls ran; a reply past that is reserved ahead, never refused
    at_once = min(10, 30 - len(granted))
    assert all(status == 1 for *_, status, _ in replies) and all(wait == 0 for *_, wait in replies[:at_once])
    # replies pushed bulk further back: ten intervals past the last refusal before a bulk send is due again
    if late_bulk[2] == 1:
        assert late_bulk[1] >= refused[-1][0] + 10 * interval_s - slack_s
    else:
        assert late_bulk[3] > 0


def test_chat_429_freezes_that_chat_only_and_many_chats_freeze_the_bot(redis_url):
    async def scenario(client):
        limiter = FloodLimiter(client, KEYS, Limits(global_429_chats=3))
        started = time.monotonic()
        first = await limiter.freeze(42, 2)
        frozen, free = await limiter.acquire(42, True), await limiter.acquire(43, True)
        frozen_took = time.monotonic() - started
        group = await limiter.freeze(-1001, 2)
        started = time.monotonic()
        third = await limiter.freeze(44, 3)
        everyone = await limiter.acquire(99, False)
        everyone_took = time.monotonic() - started
        no_chat = await FloodLimiter(client, Keys.for_token("556:x"), Limits()).freeze(None, 1)
        return first, frozen, frozen_took, free, group, third, everyone, everyone_took, no_chat
    first, frozen, frozen_took, free, group, third, everyone, everyone_took, no_chat = run(redis_url, scenario)
    # the waits left shrink by the time the calls took (a slow machine widens the bounds, never fails them)
    assert first == "chat" and frozen[0] == 0 and 2.0 - frozen_took - 0.01 <= frozen[1] <= 2.1 and free == (1, 0)
    assert group == "group"
    assert third == "global" and 3.0 - everyone_took - 0.01 <= everyone[1] <= 3.1
    assert no_chat == "global"                        # a 429 on a call with no chat stops the whole bot


def test_blocked_chat_is_skipped_until_the_user_writes_again(redis_url):
    async def scenario(client):
        limiter = FloodLimiter(client, KEYS, Limits())
        journal = OutboxJournal(client, KEYS)
        first, again = await limiter.mark_blocked(42), await limiter.mark_blocked(42)
        skipped = await limiter.acquire(42, True)
        changed, done = await journal.begin(7, 42, False)
        after = await limiter.acquire(42, True)
        return first, again, skipped, changed, done, after
    first, again, skipped, changed, done, after = run(redis_url, scenario)
    assert first and not again and skipped[0] == -1
    assert changed and done == set() and after[0] == 1, (changed, done, after)


def test_journal_records_outcomes_per_update(redis_url, redis_client):
    async def scenario(client):
        journal = OutboxJournal(client, KEYS)
        await journal.confirm(9, "0:aaaa", "sent")
        await journal.confirm(9, "2:bbbb", "failed")
        return await journal.begin(9, None, False), await journal.begin(10, None, False)
    (changed, done), (_, other) = run(redis_url, scenario)
    assert not changed and done == {"0:aaaa", "2:bbbb"} and other == set()
    assert 0 < redis_client.ttl(KEYS.send_journal(-1, 9)) <= 24 * 3600


def test_update_user_and_kicked():
    msg = {"update_id": 1, "message": {"from": {"id": 5}, "chat": {"id": 5, "type": "private"}}}
    kicked = {"update_id": 2, "my_chat_member": {"from": {"id": 6}, "chat": {"id": 6, "type": "private"},
                                                  "new_chat_member": {"status": "kicked"}}}
    assert update_user(msg) == (5, False) and update_user(kicked) == (6, True)
    assert update_user({"update_id": 3, "poll": {"id": "x"}}) == (None, False)


def test_paid_broadcasts_have_their_own_bucket_when_enabled(redis_url):
    async def scenario(client, paid_rate):
        limiter = FloodLimiter(client, Keys.for_token(f"556:paid{paid_rate}"),
                               Limits(chat_rate=100, chat_burst=100, global_rate=30, global_burst=25,
                                      paid_rate=paid_rate))
        replies = [await limiter.acquire(chat, True) for chat in range(1, 26)]      # the global burst, used up
        queued = await limiter.acquire(26, True)
        paid = [await limiter.acquire(chat, True, send_class=BROADCAST, paid=True) for chat in range(100, 110)]
        return replies, queued, paid

    replies, queued, paid = run(redis_url, lambda client: scenario(client, 1000.0))
    assert replies == [(1, 0)] * 25 and queued[0] == 1 and queued[1] > 0      # a reply now waits its turn
    assert paid == [(1, 0)] * 10                                              # paid ones do not share that wait
    _, _, unpaid = run(redis_url, lambda client: scenario(client, 0.0))
    assert all(status == 0 and wait > 0 for status, wait in unpaid)          # disabled: bulk in the global bucket


def test_replies_skip_the_global_budget_notifications_take_it_and_freezes_hold_both(redis_url, redis_client):
    keys = Keys.for_token("556:classes")

    async def scenario(client):
        limiter = FloodLimiter(client, keys, Limits(global_rate=1, global_burst=1))
        replies = [await limiter.acquire(chat, True, send_class=REPLY) for chat in range(1, 41)]
        global_untouched = await client.get(keys.send_tat("global", "")) is None
        notifies = [await limiter.acquire(chat, True) for chat in range(100, 103)]
        await limiter.freeze(None, 2)                   # a bot-wide 429
        frozen_reply = await limiter.acquire(41, True, send_class=REPLY)
        return replies, global_untouched, notifies, frozen_reply
    replies, global_untouched, notifies, frozen_reply = run(redis_url, scenario)
    assert replies == [(1, 0)] * 40 and global_untouched      # 40 chats answered at once at a global 1/s
    waits = [wait for _, wait in notifies]
    assert [status for status, _ in notifies] == [1, 1, 1] and waits[0] == 0 and waits[0] < waits[1] < waits[2]
    assert frozen_reply[0] == 1 and 1.5 <= frozen_reply[1] <= 2.1    # the reply waits out the global freeze


def test_a_reply_is_still_held_to_its_own_chat_rate(redis_url):
    async def scenario(client):
        limiter = FloodLimiter(client, Keys.for_token("556:chatrate"), Limits(chat_rate=1, chat_burst=2))
        return [await limiter.acquire(7, True, send_class=REPLY) for _ in range(4)]
    results = run(redis_url, scenario)
    assert [status for status, _ in results[:2]] == [1, 1] and results[0][1] == results[1][1] == 0
    assert results[2][0] == 0 and results[2][1] > 0            # past the burst: ask again later


def _most_in_first_window(interval_ms: float, tolerance_ms: float, window_ms: float) -> int:
    """Cells a GCRA bucket (the ACQUIRE script's arithmetic) lets through in [0, window) when asked nonstop."""
    t, tat, count = 0.0, 0.0, 0
    while t < window_ms:
        if tat - tolerance_ms <= t:
            tat = max(tat, t) + interval_ms
            count += 1
        else:
            t = tat - tolerance_ms
    return count


def test_a_groups_burst_counts_against_telegrams_minute(redis_url):
    """20 messages a minute into a group: the burst of 5 must not sit on top of the rate (23 a minute before)."""
    async def scenario(client):
        return FloodLimiter(client, KEYS, Limits())
    limiter = run(redis_url, scenario)
    assert _most_in_first_window(*limiter.group, 60_000) <= 20
    assert _most_in_first_window(*limiter.group, 600_000) >= 140        # still about 14 a minute sustained


def test_the_bot_wide_burst_counts_against_telegrams_second(redis_url):
    """~30 bulk messages a second: burst + the rest of the first second stay within it (52 before)."""
    async def scenario(client):
        return FloodLimiter(client, KEYS, Limits())
    limiter = run(redis_url, scenario)
    assert _most_in_first_window(*limiter.global_, 1_000) <= 30
    assert _most_in_first_window(*limiter.global_, 10_000) >= 240          # still about 25 a second sustained


def test_a_broadcast_paces_at_exactly_the_configured_rate(redis_url):
    """The bot-wide bucket has no blanket margin: 30/s is 30 broadcasts a second (25.5 before), and the
    notifications' burst still counts within their second."""
    async def scenario(client):
        return FloodLimiter(client, KEYS, Limits()), FloodLimiter(client, KEYS, Limits(global_rate=1000))
    limiter, fast = run(redis_url, scenario)
    assert limiter.bulk == (pytest.approx(1000 / 30), 0)                   # no burst of its own at the defaults
    assert _most_in_first_window(*limiter.bulk, 10_000) == 300
    assert _most_in_first_window(*limiter.global_, 1_000) <= 30
    assert fast.bulk[0] == pytest.approx(1.0) and _most_in_first_window(*fast.bulk, 1_000) == 1000


def _window_counts(times_ms: list[float], window_ms: float) -> int:
    """The most of `times_ms` in any [t, t + window)."""
    times = sorted(times_ms)
    return max((sum(1 for u in times[i:] if u < t + window_ms) for i, t in enumerate(times)), default=0)


def test_the_window_log_keeps_every_second_within_the_rate_whatever_the_mix(redis_url, redis_client):
    """Notifications' bursts on top of a broadcast running at the full rate: still at most 20 in any second."""
    keys = Keys.for_token("556:window")

    async def scenario(client):
        limiter = FloodLimiter(client, keys, Limits(chat_rate=0, global_rate=20, global_burst=10, bulk_reserve=4))
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < 1.6:
            if n % 10 == 0:                                  # a burst of notifications now and then
                for chat in range(5):
                    status, wait = await limiter.acquire(10_000 + n + chat, True)
                    assert status == 1
            status, wait = await limiter.acquire(20_000 + n, True, send_class=BROADCAST)
            n += 1
            await asyncio.sleep(wait if status == 0 else 0)
        return await client.lrange(keys.send_tat("global", "log"), 0, -1)
    log = [float(t) for t in run(redis_url, scenario)]
    assert len(log) == 20 and log == sorted(log, reverse=True)          # the last 20 slots, newest first
    assert _window_counts(log, 1000) <= 20
    assert redis_client.pttl(keys.send_tat("global", "log")) > 0        # it expires once idle


def test_waiting_broadcasts_are_told_to_come_back_one_at_a_time(redis_url):
    """Refused broadcasts get wake-up hints one interval apart instead of all asking for the same slot."""
    async def scenario(client):
        limiter = FloodLimiter(client, Keys.for_token("556:hints"), Limits(chat_rate=0, global_rate=10))
        first = await limiter.acquire(1, True, send_class=BROADCAST)
        return first, [await limiter.acquire(chat, True, send_class=BROADCAST) for chat in range(2, 7)]
    first, refused = run(redis_url, scenario)
    assert first == (1, 0) and all(status == 0 for status, _ in refused)
    waits = [wait for _, wait in refused]
    gaps = [b - a for a, b in zip(waits, waits[1:])]
    assert all(0.09 <= gap <= 0.101 for gap in gaps), waits              # 100 ms apart at 10/s


def test_a_broadcast_woken_late_takes_the_slot_it_missed(redis_url, redis_client):
    """Event-loop lateness within the catch-up (one slot at 2/s) costs no rate; an idle bucket starts afresh."""
    keys = Keys.for_token("556:catchup")
    tat_key = keys.send_tat("global", "")

    async def scenario(client):
        limiter = FloodLimiter(client, keys, Limits(chat_rate=0, global_rate=2))
        first = await limiter.acquire(1, True, send_class=BROADCAST)
        scheduled = float(await client.get(tat_key))               # the next slot, 500 ms on
        right_after = await limiter.acquire(2, True, send_class=BROADCAST)
        await asyncio.sleep(0.6)                                     # woken 100 ms after that slot
        late = await limiter.acquire(3, True, send_class=BROADCAST)
        return first, scheduled, right_after, late, float(await client.get(tat_key))
    first, scheduled, right_after, late, after_late = run(redis_url, scenario)
    assert first == (1, 0) and right_after[0] == 0                 # no burst from idle
    assert late == (1, 0) and after_late == pytest.approx(scheduled + 500)   # the schedule kept, not now + 500
