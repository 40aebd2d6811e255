"""Supervisor operations on real processes: SIGTTIN/SIGTTOU, RSS recycling, hung-worker kill. Lanes move
while traffic flows; every chat must still be handled exactly once and in order."""
from __future__ import annotations

import os
import signal

import pytest

from tests.runner.conftest import TOKEN, assert_chats_in_order, inject, wait_until

pytestmark = pytest.mark.slow


def merge(into: dict[int, list[int]], more: dict[int, list[int]]) -> dict[int, list[int]]:
    for chat, ids in more.items():
        into.setdefault(chat, []).extend(ids)
    return into


def total(sent: dict[int, list[int]]) -> int:
    return sum(map(len, sent.values()))


def test_sigttin_adds_a_worker_and_sigttou_removes_one(cluster, emulator):
    _, control = emulator
    # 0.1 s handlers and no reply throttling: a chat's 4 updates queue behind each other while lanes move,
    # and every round is done long before a drain deadline
    supervisor = cluster.start(workers=1, SLOW_S="0.1", SEND_LIMITS="false")
    sent = inject(control, range(500, 520), per_user=4, command="slow")
    os.kill(supervisor.pid, signal.SIGTTIN)          # lanes move to the new worker while these are handled
    merge(sent, inject(control, range(500, 520), per_user=4, command="slow"))
    wait_until(lambda: len(cluster.worker_pids(supervisor.pid)) == 2 and cluster.balanced(supervisor.pid, 2),
               40, what="a second worker after SIGTTIN")
    merge(sent, inject(control, range(500, 520), per_user=4, command="slow"))
    os.kill(supervisor.pid, signal.SIGTTOU)          # ... and back
    merge(sent, inject(control, range(500, 520), per_user=4, command="slow"))
    wait_until(lambda: len(cluster.worker_pids(supervisor.pid)) == 1, 40, what="one worker after SIGTTOU")
    log = cluster.log(supervisor)
    assert "Worker count raised to 2" in log and "Worker count lowered to 1" in log
    merge(sent, inject(control, range(500, 520), per_user=4, command="slow"))      # the remaining worker serves every chat
    wait_until(lambda: len(cluster.handled()) == total(sent), 60, what="updates handled after the count changes")
    assert set(cluster.handled().values()) == {1}
    assert_chats_in_order(cluster, sent)


def test_worker_over_the_memory_limit_is_recycled(cluster, emulator):
    _, control = emulator
    # a fresh worker stays under 200 MB; /bloat makes its worker keep 256 MB more
    supervisor = cluster.start(workers=1, MAX_WORKER_MEMORY_MB="200", BLOAT_MB="256")
    first = cluster.worker_pids(supervisor.pid)
    bloated = control.inject_command(TOKEN, 600, "bloat")["update_id"]
    wait_until(lambda: "passed MAX_WORKER_MEMORY_MB=200" in cluster.log(supervisor), 60,
               what="the RSS recycling log line")
    wait_until(lambda: cluster.worker_pids(supervisor.pid) and not set(cluster.worker_pids(supervisor.pid)) & set(first)
               and cluster.balanced(supervisor.pid, 1), 60, what="a fresh worker in place of the bloated one")
    (fresh,) = cluster.worker_pids(supervisor.pid)
    served = control.inject_command(TOKEN, 600, "start")["update_id"]
    wait_until(lambda: served in cluster.handled(), 60, what="the fresh worker serving")
    by_pid = {int(k): int(v) for k, v in cluster.client.hgetall("handled:pid").items()}
    assert first == [by_pid[bloated]] and by_pid[served] == fresh != first[0]
    log = cluster.log(supervisor)
    assert f"Stopping worker {first[0]}: RSS" in log and log.count("passed MAX_WORKER_MEMORY_MB") == 1
    assert supervisor.poll() is None, "recycling must never stop the supervisor"


def test_hung_worker_is_killed_and_replaced_without_losing_updates(cluster, emulator):
    supervisor = cluster.start(workers=2, HEARTBEAT_TIMEOUT_S="3")
    _, control = emulator
    victim = next(pid for pid in cluster.worker_pids(supervisor.pid) if pid != cluster.poller_pid())
    os.kill(victim, signal.SIGSTOP)                 # a hung worker: alive, but its heartbeat stops
    sent = inject(control, range(700, 740), per_user=2)
    wait_until(lambda: "timed out (no heartbeat" in cluster.log(supervisor), 40, what="the heartbeat timeout")
    merge(sent, inject(control, range(700, 740), per_user=1))      # while its lanes move
    wait_until(lambda: victim not in cluster.worker_pids(supervisor.pid)
               and len(cluster.worker_pids(supervisor.pid)) == 2, 60, what="the hung worker replaced")
    merge(sent, inject(control, range(700, 740), per_user=1))
    wait_until(lambda: len(cluster.handled()) == total(sent), 90, what="every update handled after the takeover")
    assert max(cluster.handled().values()) == 1
    assert_chats_in_order(cluster, sent)
    assert control.poll_stats(TOKEN)["max_concurrent"] == 1
