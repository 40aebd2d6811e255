"""Real processes: `botrunner start` supervisors with workers, the real Redis, the local Bot API server.

Timeouts are generous and no test asserts a tight timing: the machine is shared.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from botrunner.redis_keys import GROUP
from botrunner.supervisor.embedded_redis import EmbeddedRedis
from tests.runner.conftest import KEYS, TOKEN, Cluster, burst, wait_until

pytestmark = pytest.mark.slow


def all_handled(cluster, count: int, timeout: float = 90):
    return wait_until(lambda: len(cluster.handled()) >= count, timeout, 0.2, f"{count} handled updates")


def assert_in_order(cluster, users):
    for user in users:
        order = cluster.order(user)
        assert order == sorted(order), f"chat {user} handled out of order: {order}"


def assert_one_poller(control):
    stats = control.poll_stats(TOKEN)
    assert stats["max_concurrent"] == 1, "two getUpdates were in flight at once"
    assert stats["conflicts"] == 0


def test_burst_handled_exactly_once_in_order_with_one_poller(cluster, emulator):
    _, control = emulator
    cluster.start(workers=3)
    users = range(1000, 1060)
    total = burst(control, users, per_user=10)
    all_handled(cluster, total)
    time.sleep(1.0)                                   # let any duplicate show itself
    counts = cluster.handled()
    assert len(counts) == total and set(counts.values()) == {1}
    assert_in_order(cluster, users)
    assert_one_poller(control)
    assert len(control.sent(TOKEN, 1000)) == 10       # replies went out
    assert len({int(w["pid"]) for w in cluster.workers() if w["lanes"]}) == 3   # lanes spread over workers


def test_kill9_poller_and_worker_lose_nothing(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=3)
    poller = cluster.poller_pid()
    os.kill(poller, signal.SIGKILL)
    killed_at = time.monotonic()
    total = burst(control, range(2000, 2020), per_user=5)
    wait_until(lambda: cluster.poller_pid() not in (None, poller), 30, what="a new poller")
    takeover = time.monotonic() - killed_at
    assert takeover < 20, f"takeover took {takeover:.1f}s"
    all_handled(cluster, total)
    # a worker killed mid-batch: slow handlers keep it busy when it dies
    busy = [pid for pid in cluster.worker_pids(sup.pid) if pid != cluster.poller_pid()][0]
    slow = burst(control, range(3000, 3030), per_user=2, command="slow")
    time.sleep(1.5)
    os.kill(busy, signal.SIGKILL)
    all_handled(cluster, total + slow, timeout=120)
    counts = cluster.handled()
    assert all(counts.get(uid, 0) >= 1 for uid in counts)       # at-least-once; duplicates allowed only
    assert sum(1 for v in counts.values() if v > 1) <= 8        # ... for what the killed worker had running
    assert_in_order(cluster, range(2000, 2020))
    assert_one_poller(control)
    assert f"Worker {busy} killed by SIGKILL" in cluster.log(sup)


def test_kill9_supervisor_then_restart_loses_nothing(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=2)
    first = burst(control, range(4000, 4020), per_user=3)
    all_handled(cluster, first)
    workers = cluster.worker_pids(sup.pid)
    os.kill(sup.pid, signal.SIGKILL)
    sup.wait(10)
    second = burst(control, range(4000, 4020), per_user=3)
    wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") and _alive(pid) for pid in workers), 30,
               what="orphaned workers to stop")
    cluster.start(workers=2)
    all_handled(cluster, first + second)
    assert set(cluster.handled().values()) == {1}
    assert_in_order(cluster, range(4000, 4020))
    assert_one_poller(control)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_redis_restart_with_aof_loses_nothing(tmp_path, emulator):
    emu, control = emulator
    server = EmbeddedRedis(tmp_path / "redis").start()
    group = Cluster(tmp_path, server.url, emu.url)
    try:
        group.start(workers=2)
        first = burst(control, range(5000, 5010), per_user=3)
        all_handled(group, first)
        server.stop()                                  # SIGTERM: redis-server writes its AOF and exits
        second = burst(control, range(5000, 5010), per_user=3)
        time.sleep(2)
        server.start()
        group.client = redis.Redis.from_url(server.url)
        all_handled(group, first + second, timeout=120)
        assert set(group.handled().values()) == {1}
        assert_in_order(group, range(5000, 5010))
    finally:
        group.stop_all()
        server.stop()


def test_two_supervisors_share_one_redis(cluster, emulator):
    _, control = emulator
    one = cluster.start(workers=2)
    two = cluster.start(workers=2)
    wait_until(lambda: all(any(w["lanes"] for w in cluster.workers() if int(w["pid"]) in cluster.worker_pids(sup.pid))
                           for sup in (one, two)), 40, what="lanes on both supervisors")
    total = burst(control, range(6000, 6040), per_user=4)
    time.sleep(0.5)
    os.killpg(one.pid, signal.SIGTERM)                # one "host" stops in the middle of the burst
    one.wait(30)
    total += burst(control, range(6000, 6040), per_user=2)
    all_handled(cluster, total, timeout=120)
    assert set(cluster.handled().values()) == {1}
    assert_in_order(cluster, range(6000, 6040))
    assert_one_poller(control)
    assert "Supervisor" in cluster.log(one) and one.returncode == 0


def test_malformed_updates_never_stall_a_lane_or_kill_a_worker(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=2)
    pids = set(cluster.worker_pids(sup.pid))
    bad = [
        {"message": {"text": "no date, no chat, no from"}},
        {"brand_new_update_type": {"x": 1}},
        {"message": {"message_id": 1, "date": 0, "chat": {"id": 7001, "type": "private"}, "text": "x" * 100_000}},
        {"message": "not an object"},
        {"callback_query": {"id": "1", "from": {"id": 7001}}},
    ]
    ids = [control.inject_raw(TOKEN, update, chat_id=7001)["update_id"] for update in bad]
    control.inject_command(TOKEN, 7001, "fail")
    good = control.inject_command(TOKEN, 7001, "start")["update_id"]
    assert control.wait_for_message(TOKEN, 7001, timeout=60) is not None, "the lane stalled"
    assert good in cluster.handled()
    wait_until(lambda: sum(cluster.client.xpending(KEYS.lane(n), GROUP)["pending"] for n in range(16)) == 0, 30,
               what="every lane acknowledged")
    dead = int(cluster.client.get(KEYS.dead_count) or 0)
    assert 1 <= dead <= len(bad) + 1                  # the unparseable ones and /fail
    handled_or_dead = set(cluster.handled()) | {int(f[b"update_id"]) for _, f in cluster.client.xrange(KEYS.dead)}
    assert set(ids) <= handled_or_dead
    assert set(cluster.worker_pids(sup.pid)) == pids  # nobody died
    assert "dead-lettered" in cluster.log(sup)


def test_sigterm_drains_within_the_deadline(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=2, SLOW_S="2")
    total = burst(control, range(8000, 8004), per_user=1, command="slow")
    # every update delivered to a worker (pending in the group) and not finished yet: in flight
    in_flight = lambda: sum(cluster.client.xpending(KEYS.lane(n), GROUP)["pending"] for n in range(16))
    wait_until(lambda: in_flight() == total, 20, 0.05, what="all updates in flight")
    assert len(cluster.handled()) < total
    started = time.monotonic()
    os.killpg(sup.pid, signal.SIGTERM)
    assert sup.wait(30) == 0
    assert time.monotonic() - started < 6 + 10        # DRAIN_TIMEOUT_S plus slack
    assert len(cluster.handled()) == total            # in-flight work finished, not dropped
    assert len(cluster.client.lrange("stopped", 0, -1)) == 2   # each worker ran its on_worker_stop hook
    assert cluster.client.get(KEYS.poll_lease) is None and cluster.lanes_owned() == 0   # leases given back
    assert "draining" in cluster.log(sup)


def test_sighup_rolls_workers_without_a_gap_in_polling(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=2)
    old = set(cluster.worker_pids(sup.pid))
    calls_before = len(control.poll_stats(TOKEN)["calls"])
    os.kill(sup.pid, signal.SIGHUP)
    total = 0
    deadline = time.monotonic() + 60
    while old & set(cluster.worker_pids(sup.pid)) or len(cluster.worker_pids(sup.pid)) < 2:
        total += burst(control, range(9000, 9005), per_user=1)
        time.sleep(0.5)
        assert time.monotonic() < deadline, "the roll did not finish"
    all_handled(cluster, total)
    assert set(cluster.handled().values()) == {1}
    calls = control.poll_stats(TOKEN)["calls"][calls_before:]
    gaps = [b["start_monotonic"] - a["end_monotonic"] for a, b in zip(calls, calls[1:])]
    assert max(gaps) < 3.0, f"polling paused for {max(gaps):.1f}s during the roll"
    assert_one_poller(control)
    assert "rolling workers" in cluster.log(sup)


def test_boot_error_halts_instead_of_crash_looping(cluster):
    sup = cluster.start(workers=2, wait=False, BOT_HANDLERS="no_such_module:router")
    assert sup.wait(30) == 3
    log = cluster.log(sup)
    assert "failed to boot" in log and log.count("Worker failed to boot") <= 2
