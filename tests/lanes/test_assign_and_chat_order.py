"""Pure unit tests of lanes: rendezvous assignment and per-chat ordering."""
from __future__ import annotations

import asyncio

from botrunner.lanes.chat_order import ChatQueues, Job
from botrunner.lanes.leases import assign

# --- lane assignment ---

def test_assign_is_fair_enough_and_stable():
    workers = [f"host:{pid}:ab" for pid in range(4)]
    owners = assign(64, workers)
    counts = [list(owners.values()).count(w) for w in workers]
    assert sum(counts) == 64 and min(counts) >= 8
    fewer = assign(64, workers[:3])
    moved = [lane for lane in range(64) if owners[lane] != fewer[lane]]
    assert all(owners[lane] == workers[3] for lane in moved)     # only the leaver's lanes move
    assert assign(8, []) == {}


# --- per-chat ordering ---

def test_chat_queues_keep_order_per_chat_and_run_chats_concurrently():
    async def scenario():
        log, running, peak = [], set(), [0]

        async def run(job: Job):
            running.add(job.chat)
            peak[0] = max(peak[0], len(running))
            await asyncio.sleep(0.01 if job.chat == "a" else 0.001)
            log.append((job.chat, job.entry_id))
            running.discard(job.chat)

        queues = ChatQueues(run, capacity=100)
        for i in range(5):
            queues.submit(Job(0, "a", f"a{i}", {}))
            queues.submit(Job(1, "b", f"b{i}", {}))
        await asyncio.wait_for(queues.wait_idle(), 5)
        return log, peak[0]

    log, peak = asyncio.run(scenario())
    assert [e for c, e in log if c == "a"] == [f"a{i}" for i in range(5)]
    assert [e for c, e in log if c == "b"] == [f"b{i}" for i in range(5)]
    assert peak == 2


def test_chat_queues_drop_lane_leaves_other_lanes():
    async def scenario():
        done = []

        async def run(job: Job):
            await asyncio.sleep(0.01)
            done.append(job.entry_id)

        queues = ChatQueues(run)
        for i in range(3):
            queues.submit(Job(0, "a", f"a{i}", {}))
            queues.submit(Job(1, "b", f"b{i}", {}))
        await asyncio.sleep(0)            # the first job of each chat has started
        dropped = queues.drop_lane(0)
        await asyncio.wait_for(queues.wait_idle(), 5)
        return dropped, done, queues.per_lane[0]

    dropped, done, left = asyncio.run(scenario())
    assert dropped == 2 and "a0" in done and "a1" not in done and left == 0
    assert [e for e in done if e.startswith("b")] == ["b0", "b1", "b2"]


def test_chat_queues_cap_running_chats_and_buffered_entries():
    """A worker builds its queues with HANDLER_THREADS * 2 chats at once and HANDLER_THREADS * 16 entries."""
    threads = 2

    async def scenario():
        running, peak, gate = set(), [0], asyncio.Event()

        async def run(job: Job):
            running.add(job.chat)
            peak[0] = max(peak[0], len(running))
            await gate.wait()
            running.discard(job.chat)

        queues = ChatQueues(run, capacity=threads * 16, concurrency=threads * 2)
        for i in range(threads * 16):
            queues.submit(Job(0, f"chat{i}", str(i), {}))
        room = asyncio.create_task(queues.wait_for_room())
        for _ in range(50):                       # let every chat task run as far as it can
            await asyncio.sleep(0)
        while_full = (queues.free, room.done(), len(running))
        gate.set()
        await asyncio.wait_for(room, 5)           # a finished job makes room for the reader
        await asyncio.wait_for(queues.wait_idle(), 5)
        return while_full, peak[0]

    while_full, peak = asyncio.run(scenario())
    assert while_full == (0, False, threads * 2)
    assert peak == threads * 2
