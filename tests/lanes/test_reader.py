"""The lane reader on the real Redis: a lane is released only after its running handler finished, its
queued jobs stay pending for the next owner, and the owner sweeps up entries a former owner left."""
from __future__ import annotations

import asyncio
import time

from botrunner.lanes import reader as reader_module
from botrunner.lanes.chat_order import ChatQueues, Job
from botrunner.lanes.leases import LaneLeases
from botrunner.lanes.membership import Registry
from botrunner.lanes.reader import LaneReader
from botrunner.redis_keys import GROUP, Keys
from tests.aio import run

KEYS = Keys.for_token("123:abc")


def reader_for(client, worker: str, run_job, lanes: int = 1, ttl_ms: int = 5000) -> LaneReader:
    leases = LaneLeases(client, KEYS, worker, lanes, ttl_ms)
    return LaneReader(client, leases, Registry(client, KEYS, worker, ttl_ms), ChatQueues(run_job), lambda: False)


def test_a_lane_is_handed_over_only_after_its_slow_handler_finished(redis_url, redis_client):
    log: list[str] = []
    owner_meanwhile: list = []

    async def scenario(client):
        released = asyncio.Event()

        async def slow_handler(job: Job):
            log.append(f"started {job.entry_id}")
            try:                                   # a release now would come within this second
                await asyncio.wait_for(released.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            owner_meanwhile.append(await client.get(KEYS.lane_owner(0)))
            log.append(f"finished {job.entry_id}")

        reader = reader_for(client, "old", slow_handler)
        await reader.leases.ensure_groups()
        assert await reader.leases.acquire(0)
        real_release = reader.leases.release

        async def release(lane):
            log.append(f"released {lane}")
            await real_release(lane)
            released.set()
        reader.leases.release = release
        reader.reading.add(0)
        reader.queues.submit(Job(0, "chat", "1-0", {}))
        reader.queues.submit(Job(0, "chat", "2-0", {}))       # queued behind it: dropped at the hand-over
        while not log:
            await asyncio.sleep(0.01)
        reader.hand_over(0)                                    # the lane is now assigned to another worker
        await asyncio.wait_for(released.wait(), 10)
        return await client.get(KEYS.lane_owner(0))
    assert run(scenario, redis_url) is None
    assert log == ["started 1-0", "finished 1-0", "released 0"]    # 2-0 stays pending for the next owner
    assert owner_meanwhile == [b"old"]


def test_the_owner_sweeps_up_entries_left_pending_under_a_former_owner(redis_url, redis_client, monkeypatch):
    handled: list[int] = []

    async def record(job: Job):
        handled.append(int(job.fields[b"update_id"]))

    async def scenario(client):
        reader = reader_for(client, "owner", record, ttl_ms=1000)
        await reader.leases.ensure_groups()
        for i in range(3):
            await client.xadd(KEYS.lane(0), {"update_id": i, "update": "{}"})
        # a read that was in flight when its worker lost the lane: delivered to a consumer nobody serves
        await client.xreadgroup(GROUP, "former", {KEYS.lane(0): ">"}, count=2)
        assert await reader.leases.acquire(0)
        reader.reading.add(0)
        too_fresh = await reader.leases.claim_strays(0)       # pending for less than a TTL: not yet
        for _ in range(3):                                    # the lease is kept while the strays age past a TTL
            await asyncio.sleep(0.45)
            assert await reader.leases.renew() == []
        reader._last_trim = time.monotonic() - reader_module.TRIM_EVERY_S - 1   # the keeper's sweep is due
        await reader.tick()
        await asyncio.wait_for(reader.queues.wait_idle(), 10)
        return too_fresh
    assert run(scenario, redis_url) == []
    assert handled == [0, 1]                      # oldest first; entry 2 was never read, the reader gets it
    pending = redis_client.xpending(KEYS.lane(0), GROUP)
    assert [(c["name"], c["pending"]) for c in pending["consumers"]] == [(b"owner", 2)]


def test_a_read_asks_for_no_more_entries_than_the_queues_have_room_for(redis_url):
    """XREADGROUP's COUNT is per stream: over 16 lanes, COUNT=free would buffer up to 16 times too many."""
    async def scenario(client):
        reader = reader_for(client, "w", lambda job: asyncio.sleep(0), lanes=16)
        lanes = list(range(16))
        return (reader.next_read(lanes, 40), reader.next_read(lanes, 5000), reader.next_read(lanes, 5),
                reader.next_read(lanes, 5), reader.next_read(lanes, 10))
    roomy, huge, first, second, wraps = run(scenario, redis_url)
    assert roomy == (lanes16(), 2) and huge == (lanes16(), 100)
    assert first == ([0, 1, 2, 3, 4], 1) and second == ([5, 6, 7, 8, 9], 1)        # short reads take turns
    assert wraps == ([10, 11, 12, 13, 14, 15, 0, 1, 2, 3], 1)


def lanes16() -> list[int]:
    return list(range(16))


def test_a_nearly_full_queue_never_blocks_on_empty_lanes_while_others_hold_entries(redis_url):
    """With room for fewer entries than lanes the reader reads some lanes in turn; those may be empty
    while another lane holds the rest of a backlog. Such a read must not BLOCK (it waited 0.5 s for an
    entry already stored, the stall at the end of every large burst): every blocking read names every
    lane, and the backlog of the one lane is read to its end."""
    handled: list[int] = []
    reads: list[tuple[int, object]] = []

    async def slow(job: Job):
        await asyncio.sleep(0.01)
        handled.append(int(job.fields[b"update_id"]))

    async def scenario(client):
        reader = reader_for(client, "w", slow, lanes=16)
        reader.queues.capacity = 20                      # soon room for fewer entries than the 16 lanes
        real = reader.read_client.xreadgroup

        async def spy(group, consumer, streams, count=None, block=None, **kw):
            reads.append((len(streams), block))
            return await real(group, consumer, streams, count=count, block=block, **kw)
        reader.read_client.xreadgroup = spy
        await reader.leases.ensure_groups()
        for i in range(40):
            await client.xadd(KEYS.lane(13), {"update_id": i, "update": "{}"})
        for lane in range(16):
            assert await reader.leases.acquire(lane)
            reader.reading.add(lane)
        task = asyncio.create_task(reader.read())
        deadline = time.monotonic() + 20
        while len(handled) < 40 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        reader.stop()
        await asyncio.wait_for(task, 5)
    run(scenario, redis_url)
    assert handled == list(range(40))
    assert reads and all(lanes == 16 for lanes, block in reads if block)     # only full reads block
    assert any(lanes < 16 and block is None for lanes, block in reads)      # the short reads took place
