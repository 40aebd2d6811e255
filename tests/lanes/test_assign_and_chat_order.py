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


def test_chat_queues_run_a_burst_of_chats_on_at_most_concurrency_tasks():
    """A burst of single-job chats runs on `concurrency` runner tasks, not a task per chat."""
    async def scenario():
        done, gate = [], asyncio.Event()

        async def run(job: Job):
            await gate.wait()
            done.append(job.entry_id)

        queues = ChatQueues(run, capacity=100, concurrency=3)
        tasks_before = len(asyncio.all_tasks())
        for i in range(40):
            queues.submit(Job(i % 4, f"chat{i}", str(i), {}))
        await asyncio.sleep(0)
        started = len(asyncio.all_tasks()) - tasks_before
        gate.set()
        await asyncio.wait_for(queues.wait_idle(), 5)
        return started, sorted(done, key=int), len(queues.runners), queues.queues
    started, done, runners_left, queues_left = asyncio.run(scenario())
    assert started == 3 and done == [str(i) for i in range(40)]
    assert runners_left == 0 and queues_left == {}


def test_a_chat_submitted_as_the_last_runner_finishes_still_runs():
    """The one runner finishes its last job and the reader submits a new chat before the runner's task
    is reaped (its done callbacks not run yet): the new chat must still get a runner."""
    async def scenario():
        done = []
        queues: ChatQueues

        async def run(job: Job):
            done.append(job.entry_id)
            if job.entry_id == "a0":      # runs after this runner returns, before its task's callbacks
                asyncio.get_running_loop().call_soon(queues.submit, Job(0, "b", "b0", {}))

        queues = ChatQueues(run, capacity=10, concurrency=1)
        queues.submit(Job(0, "a", "a0", {}))
        for _ in range(10):
            await asyncio.sleep(0)
        await asyncio.wait_for(queues.wait_idle(), 2)
        return done
    assert asyncio.run(scenario()) == ["a0", "b0"]


def test_dropping_a_lane_while_its_chats_wait_their_turn_leaves_nothing_behind():
    async def scenario():
        done, gate = [], asyncio.Event()

        async def run(job: Job):
            await gate.wait()
            done.append((job.chat, job.entry_id))

        queues = ChatQueues(run, capacity=100, concurrency=1)
        for i in range(6):
            queues.submit(Job(i % 2, f"chat{i % 3}", str(i), {}))
        queues.submit(Job(0, "lane0only", "x0", {}))
        queues.submit(Job(0, "lane0only", "x1", {}))
        await asyncio.sleep(0)                              # chat0's first job (lane 0) is running
        dropped = queues.drop_lane(0)
        queues.submit(Job(1, "lane0only", "late", {}))      # its queue was emptied while it waited its turn
        gate.set()
        await asyncio.wait_for(queues.wait_idle(), 5)
        return dropped, done, queues.size, queues.queues, queues.held
    dropped, done, size, left, held = asyncio.run(scenario())
    per_chat = {chat: [e for c, e in done if c == chat] for chat, _ in done}
    assert dropped == 4 and per_chat == {"chat0": ["0", "3"], "chat1": ["1"], "chat2": ["5"], "lane0only": ["late"]}
    assert size == 0 and left == {} and held == set()
