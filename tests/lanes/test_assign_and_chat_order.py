"""Pure unit tests of lanes: the lane assignment (bounded-load rendezvous) and per-chat ordering."""
from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import sys
from collections import Counter

from botrunner.lanes.assignment import assign
from botrunner.lanes.chat_order import ChatQueues, Job

# --- lane assignment ---

def weight(worker: str, lane: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{worker}/{lane}".encode(), digest_size=8).digest(), "big")


def reference(lanes: int, workers: list[str]) -> dict[int, str]:
    """The rule as docs/architecture.md states it, written out plainly: lanes in order, each to its
    highest-weight worker with room (floor(lanes / N) each, one more for the first lanes % N to get there)."""
    live = sorted(set(workers))
    base, spare = divmod(lanes, len(live))
    count = Counter[str]()
    owners = {}
    for lane in range(lanes):
        for w in sorted(live, key=lambda w: weight(w, lane), reverse=True):
            if count[w] < base or (count[w] == base and spare > 0):
                spare -= count[w] == base
                count[w] += 1
                owners[lane] = w
                break
    return owners


def worker_sets(n: int, sets: int, seed: int) -> list[list[str]]:
    """Random ids shaped like a worker's own (<host>:<pid>:<4 hex>), the same on every run."""
    rng = random.Random(seed * 1000 + n)
    return [[f"host{rng.randrange(4)}:{rng.randrange(2, 4_000_000)}:{rng.getrandbits(16):04x}" for _ in range(n)]
            for _ in range(sets)]


SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 12, 16)


def test_assign_follows_the_documented_rule():
    for lanes in (1, 7, 16, 64):
        for n in (1, 2, 3, 5, 8, 20):
            for workers in worker_sets(n, 5, lanes):
                assert assign(lanes, workers) == reference(lanes, workers)


def test_assign_keeps_every_worker_within_one_lane_of_the_others():
    for lanes in (16, 64, 100):
        for n in (*SIZES, 24, 32):
            for workers in worker_sets(n, 60, lanes):
                owners = assign(lanes, workers)
                counts = Counter(owners.values())
                assert sorted(owners) == list(range(lanes)) and set(counts) <= set(workers)
                per_worker = [counts[w] for w in workers]
                assert max(per_worker) - min(per_worker) <= 1 and max(per_worker) == -(-lanes // n)


def test_assign_depends_only_on_the_member_set():
    rng = random.Random(5)
    for workers in worker_sets(6, 20, 3):
        shuffled = workers[:]
        rng.shuffle(shuffled)
        assert assign(64, shuffled + workers[:2]) == assign(64, workers)   # order and duplicates ignored
    assert assign(8, []) == {} and assign(0, ["a"]) == {}
    assert len(set(assign(3, list("abcde")).values())) == 3     # more workers than lanes: one lane each at most


def test_assign_is_the_same_in_another_process():
    """Every host computes the same assignment: nothing in it may depend on the process (str hash seeds)."""
    workers = worker_sets(5, 1, 9)[0]
    code = f"from botrunner.lanes.leases import assign; print(sorted(assign(64, {workers!r}).items()))"
    outputs = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, check=True).stdout for seed in ("1", "2")}
    assert outputs == {f"{sorted(assign(64, workers).items())}\n"}


# A join or a leave moves the lanes it must plus the few needed to keep every worker within
# ceil(lanes / N). `benchmarks/lane_assignment.py` measured, with 64 lanes over 2000 random sets per N:
# 1.2-4.1 more on average with 2-8 workers (at most 10), 4-7 with 12-32 (at most 17). The bounds below
# are that with some room: a quarter of the lanes for any one change, an eighth on average.

def test_a_join_moves_lanes_to_the_joiner_plus_a_bounded_few():
    for n in SIZES:
        extra = []
        for workers in worker_sets(n + 1, 40, 1):
            joiner, before = workers[-1], assign(64, workers[:-1])
            after = assign(64, workers)
            extra.append(sum(1 for lane in range(64) if after[lane] not in (before[lane], joiner)))
        assert max(extra) <= 16 and sum(extra) / len(extra) <= 8, (n, extra)


def test_a_leave_moves_the_leavers_lanes_plus_a_bounded_few():
    for n in SIZES[1:]:
        extra = []
        for workers in worker_sets(n, 40, 2):
            leaver, before = workers[0], assign(64, workers)
            after = assign(64, workers[1:])
            extra.append(sum(1 for lane in range(64) if before[lane] != leaver and after[lane] != before[lane]))
        assert max(extra) <= 16 and sum(extra) / len(extra) <= 8, (n, extra)
    two = worker_sets(2, 1, 4)[0]
    assert assign(64, two[:1]) == dict.fromkeys(range(64), two[0])   # the last one left takes everything


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
    """Queues run at most `concurrency` chats at once (a worker's CHAT_RUNNERS) and buffer `capacity` entries."""
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
