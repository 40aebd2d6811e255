"""Supervisor operations on real processes: SIGTTIN/SIGTTOU, RSS recycling, hung-worker kill."""
from __future__ import annotations

import os
import signal

import pytest

from tests.runner.conftest import TOKEN, burst, wait_until

pytestmark = pytest.mark.slow


def test_sigttin_adds_a_worker_and_sigttou_removes_one(cluster, emulator):
    supervisor = cluster.start(workers=1)
    os.kill(supervisor.pid, signal.SIGTTIN)
    wait_until(lambda: len(cluster.worker_pids(supervisor.pid)) == 2 and cluster.balanced(supervisor.pid, 2),
               40, what="a second worker after SIGTTIN")
    os.kill(supervisor.pid, signal.SIGTTOU)
    wait_until(lambda: len(cluster.worker_pids(supervisor.pid)) == 1, 40, what="one worker after SIGTTOU")
    log = cluster.log(supervisor)
    assert "Worker count raised to 2" in log and "Worker count lowered to 1" in log
    # the remaining worker still serves every update
    _, control = emulator
    sent = burst(control, range(500, 520), per_user=2)
    wait_until(lambda: len(cluster.handled()) == sent, 60, what="updates handled after the count changes")
    assert set(cluster.handled().values()) == {1}


def test_worker_over_the_memory_limit_is_recycled(cluster):
    # every Python worker is bigger than 32 MB, so the limit retires it and a fresh one replaces it
    supervisor = cluster.start(workers=1, wait=False, MAX_WORKER_MEMORY_MB="32")
    wait_until(lambda: "passed MAX_WORKER_MEMORY_MB=32" in cluster.log(supervisor), 60,
               what="the RSS recycling log line")
    first = cluster.log(supervisor)
    wait_until(lambda: cluster.log(supervisor).count("passed MAX_WORKER_MEMORY_MB=32") >= 2, 60,
               what="a replacement worker that is recycled in turn")
    assert supervisor.poll() is None, "recycling must never stop the supervisor"
    assert "Stopping worker" in first


def test_hung_worker_is_killed_and_replaced_without_losing_updates(cluster, emulator):
    supervisor = cluster.start(workers=2, HEARTBEAT_TIMEOUT_S="3")
    _, control = emulator
    victim = next(pid for pid in cluster.worker_pids(supervisor.pid) if pid != cluster.poller_pid())
    os.kill(victim, signal.SIGSTOP)                 # a hung worker: alive, but its heartbeat stops
    sent = burst(control, range(700, 740), per_user=2)
    wait_until(lambda: "timed out (no heartbeat" in cluster.log(supervisor), 40, what="the heartbeat timeout")
    wait_until(lambda: victim not in cluster.worker_pids(supervisor.pid)
               and len(cluster.worker_pids(supervisor.pid)) == 2, 60, what="the hung worker replaced")
    wait_until(lambda: len(cluster.handled()) == sent, 90, what="every update handled after the takeover")
    assert max(cluster.handled().values()) == 1
    assert control.poll_stats(TOKEN)["max_concurrent"] == 1
