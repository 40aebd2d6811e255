"""Lane handover on the real Redis, several workers' keepers in one event loop: workers started together
agree on the assignment before anyone takes a lane, and a lane released by its old owner is taken by the
new one on the release event, not at the next keeper round. The keeper round here is 10 s (lease TTL
30 s), so everything that happens within a second happened because of an event."""
from __future__ import annotations

import asyncio
import time

import pytest
from loguru import logger

from botrunner.lanes.chat_order import ChatQueues, Job
from botrunner.lanes.leases import LaneLeases, assign
from botrunner.lanes.membership import Cohort, Registry
from botrunner.lanes.reader import LaneReader
from botrunner.redis_keys import GROUP, Keys
from tests import aio

KEYS = Keys.for_token("123:abc")
LANES = 16
TTL_MS = 30_000            # keeper round: 10 s
EVENT_BOUND_S = 1.0        # release -> taken by the new owner


def run(coro_fn, redis_url):
    return aio.run(coro_fn, redis_url, timeout=90)


class Member:
    """One worker's lane machinery whose 'handler' acknowledges (after `slow_s`); records takes and releases."""

    def __init__(self, client, worker_id: str, journal: list, cohort: Cohort | None = None, settle_s: float = 20.0,
                 slow_s: float = 0.0) -> None:
        self.client, self.id, self.journal, self.slow_s = client, worker_id, journal, slow_s
        self.leases = LaneLeases(client, KEYS, worker_id, LANES, TTL_MS)
        self.queues = ChatQueues(self.handle, capacity=100, concurrency=8)
        self.reader = LaneReader(client, self.leases, Registry(client, KEYS, worker_id, TTL_MS), self.queues,
                                 lambda: False, cohort=cohort, settle_s=settle_s)
        self.handled: list[int] = []
        self.tasks: list[asyncio.Task] = []
        acquire, release = self.leases.acquire, self.leases.release

        async def recorded_acquire(lane: int) -> bool:
            got = await acquire(lane)
            if got:
                journal.append(("took", lane, worker_id, time.monotonic()))
            return got

        async def recorded_release(lane: int) -> None:
            await release(lane)
            journal.append(("released", lane, worker_id, time.monotonic()))
        self.leases.acquire, self.leases.release = recorded_acquire, recorded_release

    async def handle(self, job: Job) -> None:
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        self.handled.append(int(job.fields[b"update_id"]))
        await self.client.xack(KEYS.lane(job.lane), GROUP, job.entry_id)

    async def start(self) -> None:
        await self.reader.boot()
        self.tasks = [asyncio.create_task(self.reader.keep()), asyncio.create_task(self.reader.read())]

    async def drain(self) -> None:
        """What a warm stop does (botrunner.worker.process.Worker._drain), up to the release of every lane."""
        self.reader.stop_reading()
        await self.reader.leave()
        await self.reader.read_returned()
        self.tasks[1].cancel()
        self.reader.release_each_when_idle()
        await self.queues.wait_idle()

    async def stop(self) -> None:
        self.reader.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def eventually(predicate, timeout: float, what: str) -> float:
    """Wait for `predicate()`; returns when it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def share(members: list[Member]) -> dict[str, set[int]]:
    wanted = assign(LANES, [m.id for m in members])
    return {m.id: {n for n, w in wanted.items() if w == m.id} for m in members}


def holds_share(members: list[Member]) -> bool:
    want = share(members)
    return all(set(m.reader.reading) == want[m.id] for m in members)


def test_workers_started_together_take_only_their_share_and_no_lane_moves(redis_url):
    journal: list = []

    async def scenario(client):
        cohort = Cohort("host:1:1", 4)
        members = [Member(client, f"w{i}", journal, cohort) for i in range(4)]
        for m in members[:3]:                        # three boot at once, the fourth much later
            await m.start()
        await eventually(lambda: all(m.reader.events.subscribed.is_set() for m in members[:3]), 20, "subscriptions")
        while int(await client.scard(KEYS.cohort(cohort.id))) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)                     # three keepers enrolled and had time to (wrongly) take lanes
        early = [n for n in range(LANES) if await client.exists(KEYS.lane_owner(n))]
        settled_early = [m.id for m in members if m.reader.settled.is_set()]
        await members[3].start()
        await eventually(lambda: holds_share(members), 20, "every worker holding its share")
        for m in members:
            await m.stop()
        return early, settled_early, share(members)
    early, settled_early, wanted = run(scenario, redis_url)
    assert early == [] and settled_early == []       # nobody took a lane before the whole cohort was there
    takes = [(lane, who) for kind, lane, who, _ in journal if kind == "took"]
    assert sorted(takes) == sorted((n, w) for w, lanes in wanted.items() for n in lanes)   # each lane once, by its owner
    assert not [e for e in journal if e[0] == "released"]


def test_a_released_lane_is_taken_by_its_new_owner_at_once(redis_url, redis_client):
    journal: list = []

    async def scenario(client):
        old = Member(client, "old", journal, slow_s=0.3)
        await old.start()
        await eventually(lambda: len(old.reader.reading) == LANES, 20, "the first worker holding every lane")
        for i in range(LANES * 4):                   # updates in flight (slow handlers) when the new worker joins
            await client.xadd(KEYS.lane(i % LANES), {"update_id": i, "update": "{}"})
        await eventually(lambda: old.handled, 20, "the first updates handled")
        new = Member(client, "new", journal)
        joined = time.monotonic()
        await new.start()
        balanced = await eventually(lambda: holds_share([old, new]), 20, "the new worker holding its share")
        await eventually(lambda: len(old.handled) + len(new.handled) >= LANES * 4, 30, "every update handled")
        for m in (old, new):
            await m.stop()
        return share([old, new]), old.handled, new.handled, balanced - joined
    wanted, by_old, by_new, took_s = run(scenario, redis_url)
    assert took_s < 3.0                  # the old owner handed over on the join event, not at its next round (10 s)
    released = {lane: at for kind, lane, who, at in journal if kind == "released"}
    taken = {lane: at for kind, lane, who, at in journal if kind == "took" and who == "new"}
    assert set(released) == set(taken) == wanted["new"]
    late = {lane: round(taken[lane] - released[lane], 3) for lane in taken if taken[lane] - released[lane] > EVENT_BOUND_S}
    assert late == {}, f"lanes taken more than {EVENT_BOUND_S}s after their release: {late}"
    assert sorted(by_old + by_new) == list(range(LANES * 4))           # nothing lost, nothing twice
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_a_draining_worker_releases_each_lane_when_idle_and_the_others_take_it_at_once(redis_url):
    journal: list = []

    async def scenario(client):
        cohort = Cohort("host:1:1", 2)
        stay, leave = Member(client, "stay", journal, cohort), Member(client, "leave", journal, cohort, slow_s=1.0)
        for m in (stay, leave):
            await m.start()
        await eventually(lambda: holds_share([stay, leave]), 20, "both holding their share")
        busy = min(leave.reader.reading)
        await client.xadd(KEYS.lane(busy), {"update_id": 1, "update": "{}"})
        await eventually(lambda: leave.queues.per_lane[busy] > 0, 20, "a slow update running on the leaving worker")
        drain_started = time.monotonic()
        await leave.drain()
        await eventually(lambda: len(stay.reader.reading) == LANES, 20, "the staying worker holding every lane")
        handled_at = {"leave": leave.handled}
        for m in (stay, leave):
            await m.stop()
        return share([stay, leave])["leave"], busy, drain_started, handled_at
    moved, busy, drain_started, handled = run(scenario, redis_url)
    released = {lane: at for kind, lane, who, at in journal if kind == "released" and who == "leave"}
    taken = {lane: at for kind, lane, who, at in journal if kind == "took" and who == "stay" and lane in moved}
    assert set(released) == set(taken) == moved
    assert handled["leave"] == [1]                                 # the running update finished before the release
    assert released[busy] - drain_started >= 0.5                   # ... which waited for it
    assert all(released[n] - drain_started < 3.0 for n in moved if n != busy)     # idle lanes at once
    late = {n: round(taken[n] - released[n], 3) for n in moved if taken[n] - released[n] > EVENT_BOUND_S}
    assert late == {}


def test_a_cohort_that_does_not_complete_in_time_joins_without_the_missing_worker(redis_url):
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")

    async def scenario(client):
        alone = Member(client, "alone", [], Cohort("host:1:1", 2), settle_s=0.5)
        await alone.start()
        await eventually(lambda: len(alone.reader.reading) == LANES, 20, "the lone worker holding every lane")
        await alone.stop()
    try:
        run(scenario, redis_url)
    finally:
        logger.remove(sink)
    assert any("Joining without the rest of the 2 workers" in line for line in lines)


def test_a_worker_stopped_while_its_cohort_settles_is_never_registered(redis_url, redis_client):
    async def scenario(client):
        cohort = Cohort("host:1:1", 2)
        stopped = Member(client, "stopped", [], cohort, settle_s=0.5)
        await stopped.start()
        while not await client.sismember(KEYS.cohort(cohort.id), "stopped"):
            await asyncio.sleep(0.01)
        await stopped.drain()                        # SIGTERM during the boot settle
        late = Member(client, "late", [], cohort, settle_s=0.5)
        await late.start()                           # the cohort can no longer complete: it joins alone
        await eventually(lambda: len(late.reader.reading) == LANES, 20, "the late worker holding every lane")
        for m in (stopped, late):
            await m.stop()
    run(scenario, redis_url)
    assert [w.decode() for w in redis_client.zrange(KEYS.workers, 0, -1)] == ["late"]


def test_a_beat_on_its_way_when_the_worker_leaves_does_not_register_it_again(redis_url, redis_client):
    """A keeper round's beat still on its way when the drain leaves the registry landed after the leave:
    the stopped worker was live again for a lease TTL, and the assignment kept its lanes for it."""
    async def scenario(client):
        registry = Registry(client, KEYS, "leaving", TTL_MS)
        await registry.join_alone()
        beat_script, beat_sent = registry._beat, asyncio.Event()

        async def slow_beat(*args, **kwargs):
            beat_sent.set()
            await asyncio.sleep(0.2)          # the round trip of a loaded machine
            return await beat_script(*args, **kwargs)
        registry._beat = slow_beat
        beat = asyncio.create_task(registry.beat([0, 1], poller=False))
        await beat_sent.wait()
        await registry.leave()
        await beat
        await registry.beat([0, 1], poller=False)     # a later round: nothing either
    run(scenario, redis_url)
    assert redis_client.zrange(KEYS.workers, 0, -1) == []
    assert not redis_client.exists(KEYS.worker("leaving"))


def test_a_drain_that_begins_while_a_rebalance_reads_the_registry_takes_no_lane(redis_url, redis_client):
    """A rebalance (woken by a lane event) past its draining check when the drain began took the lanes
    the drain had just released, and a lane taken as the worker exited stayed its own for a lease TTL."""
    journal: list = []

    async def scenario(client):
        cohort = Cohort("host:1:1", 2)
        stay, leave = Member(client, "stay", journal, cohort), Member(client, "leave", journal, cohort)
        for m in (stay, leave):
            await m.start()
        await eventually(lambda: holds_share([stay, leave]), 20, "both holding their share")
        live, reading, answer = leave.reader.registry.live, asyncio.Event(), asyncio.Event()

        async def slow_live():
            ids = await live()                 # read before the leave: it still lists the leaving worker
            reading.set()
            await answer.wait()
            return ids
        leave.reader.registry.live = slow_live
        rebalance = asyncio.create_task(leave.reader.rebalance())
        await reading.wait()
        await leave.drain()
        answer.set()
        await rebalance
        await eventually(lambda: len(stay.reader.reading) == LANES, 20, "the staying worker holding every lane")
        held = list(leave.leases.held)
        for m in (stay, leave):
            await m.stop()
        return held
    assert run(scenario, redis_url) == []
    owners = {redis_client.get(KEYS.lane_owner(n)) for n in range(LANES)}
    assert owners == {b"stay"}
