"""The supervisor's stops and reserved exits on real processes: SIGQUIT and a second SIGTERM are cold
stops (handlers in flight are abandoned, their updates stay pending); exit 4 on a 401, exit 3 on a
failing start-up hook; workers ignore SIGINT (Ctrl-C reaches the whole group, the supervisor decides)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from botrunner.redis_keys import GROUP
from tests.runner.conftest import KEYS, burst, wait_until

pytestmark = pytest.mark.slow

# handlers that would run for a minute and a drain deadline longer still: only a cold stop ends them soon
BUSY = {"SLOW_S": "60", "DRAIN_TIMEOUT_S": "90", "LANE_LEASE_TTL_MS": "30000"}


def pending(cluster) -> int:
    return sum(cluster.client.xpending(KEYS.lane(n), GROUP)["pending"] for n in range(16))


def busy_cluster(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=2, **BUSY)
    total = burst(control, range(8100, 8104), per_user=1, command="slow")
    wait_until(lambda: pending(cluster) == total, 30, 0.05, what="every slow update in flight")
    return sup, total


def assert_cold_stopped(cluster, sup, total):
    assert sup.wait(40) == 0                       # long before the 60 s handlers or the 90 s drain
    assert cluster.handled() == {}                 # nothing in flight was finished ...
    assert pending(cluster) == total               # ... nor acknowledged: it is redelivered later
    # the lanes of what was in flight were not released: their leases expire by TTL (a worker with
    # nothing in flight may have finished its drain and given its own lanes back)
    busy = [n for n in range(16) if cluster.client.xpending(KEYS.lane(n), GROUP)["pending"]]
    assert busy and all(cluster.client.exists(KEYS.lane_owner(n)) for n in busy)


def test_sigquit_is_a_cold_stop(cluster, emulator):
    sup, total = busy_cluster(cluster, emulator)
    os.kill(sup.pid, signal.SIGQUIT)
    assert_cold_stopped(cluster, sup, total)
    assert "cold stop" in cluster.log(sup)


def test_a_second_sigterm_turns_the_drain_into_a_cold_stop(cluster, emulator):
    sup, total = busy_cluster(cluster, emulator)
    os.kill(sup.pid, signal.SIGTERM)
    wait_until(lambda: "draining" in cluster.log(sup), 20, what="the warm stop to begin")
    time.sleep(1.2)                                # a duplicate within 1 s is not a second request
    assert sup.poll() is None, "the warm stop must wait for the handlers"
    os.kill(sup.pid, signal.SIGTERM)
    assert_cold_stopped(cluster, sup, total)
    assert "Received SIGTERM again: cold stop" in cluster.log(sup)


def test_a_401_from_getupdates_halts_with_exit_4(cluster, emulator):
    _, control = emulator
    control.add_fault("getUpdates", error_code=401, description="Unauthorized", times=None)
    sup = cluster.start(workers=2, wait=False)
    assert sup.wait(60) == 4
    log = cluster.log(sup)
    assert "The Bot API rejected the bot token" in log and "Halting: the Bot API rejected the bot token" in log


def test_a_failing_start_up_hook_halts_with_exit_3(cluster):
    sup = cluster.start(workers=2, wait=False, TEST_FAIL_STARTUP="1")
    assert sup.wait(60) == 3
    log = cluster.log(sup)
    assert "startup hook connect failed" in log and "cannot reach its database" in log
    assert "Halting: a worker failed to boot" in log


def ignored_signals(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("SigIgn:"))
    return int(line.split()[1], 16)


def test_workers_ignore_sigint(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=2)
    workers = cluster.worker_pids(sup.pid)
    assert all(ignored_signals(pid) & (1 << (signal.SIGINT - 1)) for pid in workers)
    assert not ignored_signals(sup.pid) & (1 << (signal.SIGINT - 1))   # the supervisor decides
    for pid in workers:
        os.kill(pid, signal.SIGINT)
    total = burst(control, range(8200, 8220), per_user=1)
    wait_until(lambda: len(cluster.handled()) == total, 60, what="updates handled after SIGINT")
    assert sorted(cluster.worker_pids(sup.pid)) == sorted(workers)     # nobody left
