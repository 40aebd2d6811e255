"""profile_worker --cpu counts a worker's context switches over all its threads: the kernel keeps them per
thread, and a worker's handler threads and event loop are different threads."""
from __future__ import annotations

import threading
import time

import psutil

from benchmarks.profile_worker import context_switches, switch_counts


def test_a_threads_sleeps_are_counted_though_the_main_thread_waited_once():
    me = psutil.Process()
    go, slept, leave = threading.Event(), threading.Event(), threading.Event()

    def sleeper() -> None:
        go.wait()
        for _ in range(50):
            time.sleep(0.001)      # each sleep leaves the CPU: one voluntary switch at least
        slept.set()
        leave.wait()               # alive while counted: an ended thread takes its count with it
    thread = threading.Thread(target=sleeper)
    thread.start()
    before, main_before = context_switches(me), me.num_ctx_switches()
    go.set()
    slept.wait()                   # the main thread blocks once
    after, main_after = context_switches(me), me.num_ctx_switches()
    leave.set()
    thread.join()
    assert after[0] - before[0] >= 50
    assert main_after.voluntary - main_before.voluntary < 50        # what the main thread's count alone says


def test_only_the_workers_are_summed():
    me = psutil.Process()
    mine = context_switches(me)
    counted = switch_counts({"worker 1": me, "worker 2": me, "redis": me, "supervisor": me})
    assert counted[0] >= 2 * mine[0] and counted[1] >= 2 * mine[1]
    assert counted[0] < 4 * mine[0]            # redis and supervisor left out (the counts only grow a little)
