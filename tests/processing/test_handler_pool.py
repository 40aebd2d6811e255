"""The handler pool: calls run in threads in submission order per drainer, slow handlers do not hold
the others up, the deadline abandons a hung thread and the pool goes on with a fresh one."""
from __future__ import annotations

import asyncio
import threading

import pytest

from botrunner.errors import HandlerTimeout
from botrunner.processing.handler_pool import HandlerPool


def test_calls_run_in_handler_threads_and_return_results_and_errors():
    def work(n):
        if n == 3:
            raise KeyError(n)
        return n * 2, threading.current_thread().name

    async def main():
        pool = HandlerPool(4)
        return await asyncio.gather(*(pool.run(work, n) for n in range(6)), return_exceptions=True), pool

    outcomes, pool = asyncio.run(main())
    assert [o[0] if isinstance(o, tuple) else type(o) for o in outcomes] == [0, 2, 4, KeyError, 8, 10]
    assert all(o[1].startswith("handler") for o in outcomes if isinstance(o, tuple))
    assert pool.busy == 0


def test_a_burst_takes_few_thread_hops():
    submitted = []

    async def main():
        pool = HandlerPool(16)
        original = pool.executor.submit
        pool.executor.submit = lambda *a: (submitted.append(1), original(*a))[1]
        await asyncio.gather(*(pool.run(lambda n: n, n) for n in range(400)))

    asyncio.run(main())
    assert 1 <= len(submitted) <= 400 // 8 + 16        # one drainer per 8 outstanding calls at most


def test_a_slow_handler_does_not_hold_up_the_calls_behind_it():
    released = threading.Event()

    def slow():
        assert released.wait(30), "the call queued behind this one never ran"
        return "slow"

    def quick():
        released.set()
        return "quick"

    async def main():
        pool = HandlerPool(4)
        first = asyncio.create_task(pool.run(slow))
        await asyncio.sleep(0)                 # the slow one is taken first, by the one drainer
        return await asyncio.wait_for(asyncio.gather(first, pool.run(quick)), 30)

    assert asyncio.run(main()) == ["slow", "quick"]


def test_a_hung_handler_is_abandoned_and_the_next_call_runs_on_a_fresh_thread():
    release = threading.Event()

    async def main():
        pool = HandlerPool(2, timeout_s=0.3)
        hung = asyncio.create_task(pool.run(release.wait, 60))
        later = asyncio.create_task(pool.run(lambda: threading.current_thread().name))
        with pytest.raises(HandlerTimeout):
            await asyncio.wait_for(hung, 30)
        name = await asyncio.wait_for(later, 30)
        after = await asyncio.wait_for(pool.run(lambda: "after"), 30)
        return pool.abandoned, pool.exhausted, name, after

    try:
        abandoned, exhausted, name, after = asyncio.run(main())
    finally:
        release.set()
    assert (abandoned, exhausted, after) == (1, False, "after")
    assert name.startswith("handler")
