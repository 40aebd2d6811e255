"""Real processes: `botrunner start` supervisors with workers, the real Redis, the local Bot API server.

Timeouts are generous and no test asserts a tight timing: the machine is shared.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
import redis
import telegram

from botrunner.redis_keys import GROUP
from botrunner.supervisor.embedded_redis import EmbeddedRedis
from tests.key_events import key_events
from tests.runner.conftest import KEYS, TOKEN, Cluster, assert_chats_in_order, assert_replies_in_order, burst, inject, wait_until

pytestmark = pytest.mark.slow


def all_handled(cluster, count: int, timeout: float = 90):
    return wait_until(lambda: len(cluster.handled()) >= count, timeout, 0.2, f"{count} handled updates")


def pending(cluster) -> int:
    return sum(cluster.client.xpending(KEYS.lane(n), GROUP)["pending"] for n in range(16))


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
    sent = inject(control, range(1000, 1060), per_user=10)
    total = sum(map(len, sent.values()))
    all_handled(cluster, total)
    # once every entry is acknowledged nothing can be handled again: then count
    wait_until(lambda: pending(cluster) == 0, 30, what="every update acknowledged")
    counts = cluster.handled()
    assert len(counts) == total and set(counts.values()) == {1}
    assert_chats_in_order(cluster, sent)
    wait_until(lambda: all(len(control.sent(TOKEN, chat)) == 10 for chat in sent), 30, what="every reply")
    assert_replies_in_order(control, sent)            # every chat: one reply per update, in order
    assert_one_poller(control)
    assert len({int(w["pid"]) for w in cluster.workers() if w["lanes"]}) >= 2   # lanes spread over workers


QUEUEING = {"SLOW_S": "0.15", "SEND_LIMITS": "false"}

# slack for a loaded 2-core machine on top of the documented takeover bounds; each bound is still far
# below what a lease never released (or a lane never taken) would take
SLACK_S = 2.5


def fence(lease: bytes) -> int:
    return int(lease.split(b":")[0])


def in_flight_by_worker(cluster) -> dict[int, list[tuple[str, bytes]]]:
    """pid -> entry ids delivered to that worker and not acknowledged, over every lane."""
    out: dict[int, list[bytes]] = {}
    for n in range(16):
        for consumer in cluster.client.xpending(KEYS.lane(n), GROUP)["consumers"]:
            name = consumer["name"].decode()
            rows = cluster.client.xpending_range(KEYS.lane(n), GROUP, "-", "+", 1000, consumername=name)
            out.setdefault(int(name.rsplit(":", 2)[1]), []).extend(
                (KEYS.lane(n), row["message_id"]) for row in rows)
    return out


def update_ids(cluster, entries) -> set[int]:
    return {int(cluster.client.xrange(stream, entry, entry)[0][1][b"update_id"]) for stream, entry in entries}


def test_kill9_poller_and_worker_lose_nothing(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=3)
    poller, old_lease = cluster.poller_pid(), cluster.client.get(KEYS.poll_lease)
    lease_left_s = cluster.client.pttl(KEYS.poll_lease) / 1000
    os.kill(poller, signal.SIGKILL)
    killed_at = time.monotonic()
    first = inject(control, range(2000, 2020), per_user=5)
    wait_until(lambda: cluster.poller_pid() not in (None, poller), 30, 0.05, what="a new poller")
    takeover = time.monotonic() - killed_at
    assert fence(cluster.client.get(KEYS.poll_lease)) > fence(old_lease)
    assert takeover < lease_left_s + 0.5 + SLACK_S, f"poller takeover took {takeover:.1f}s"   # TTL + 0.5 s
    all_handled(cluster, sum(map(len, first.values())))
    # a worker killed while busy: slow handlers are in flight on it when it dies
    slow = inject(control, range(3000, 3030), per_user=2, command="slow")
    busy = wait_until(lambda: next((pid for pid, entries in in_flight_by_worker(cluster).items()
                                    if entries and pid not in (cluster.poller_pid(), poller)), None),
                      30, 0.05, what="a worker with slow updates in flight")
    victim = next(w for w in cluster.workers() if int(w["pid"]) == busy)
    lanes = [int(n) for n in victim["lanes"].split(",")]
    os.kill(busy, signal.SIGKILL)
    killed_at = time.monotonic()
    in_flight = update_ids(cluster, in_flight_by_worker(cluster).get(busy, []))
    assert in_flight, "the killed worker had nothing in flight"
    owners = lambda: [cluster.client.get(KEYS.lane_owner(n)) for n in lanes]
    wait_until(lambda: all(o is not None and f":{busy}:" not in o.decode() for o in owners()), 30, 0.05,
               what="the killed worker's lanes taken over")
    moved = time.monotonic() - killed_at
    assert moved < 2.0 + 2.0 / 3 + SLACK_S, f"lanes moved after {moved:.1f}s"  # LANE_LEASE_TTL_MS + a keeper round
    sent = {**first, **slow}
    all_handled(cluster, sum(map(len, sent.values())), timeout=120)
    counts = cluster.handled()
    assert set(counts) == {i for ids in sent.values() for i in ids}            # every update handled
    assert {i for i, n in counts.items() if n > 1} <= in_flight                 # repeats: only what was in flight
    # every chat in order, the killed worker's chats too (it also had replies of the first burst in flight)
    assert_chats_in_order(cluster, sent, exactly_once=False)
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


def parses(update: dict) -> bool:
    try:
        telegram.Update.de_json(update, None)
        return True
    except Exception:
        return False


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
    fail = control.inject_command(TOKEN, 7001, "fail")["update_id"]
    good = control.inject_command(TOKEN, 7001, "start")["update_id"]
    assert control.wait_for_message(TOKEN, 7001, timeout=60) is not None, "the lane stalled"
    wait_until(lambda: sum(cluster.client.xpending(KEYS.lane(n), GROUP)["pending"] for n in range(16)) == 0, 30,
               what="every lane acknowledged")
    unparseable = {i for i, update in zip(ids, bad) if not parses({**update, "update_id": i})}
    assert unparseable and len(unparseable) < len(bad)             # the list holds both kinds
    dead = {int(f[b"update_id"]): int(f[b"attempts"]) for _, f in cluster.client.xrange(KEYS.dead)}
    assert dead == {**{i: 1 for i in unparseable}, fail: 5}        # at once / after MAX_ATTEMPTS
    assert int(cluster.client.get(KEYS.dead_count)) == len(dead)
    assert set(cluster.handled()) == (set(ids) - unparseable) | {good}
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
    # handlers of 0.15 s and no reply throttling: each round's 3 updates per chat queue up behind each
    # other and are gone before the next round, so lanes move with queued updates but no backlog
    sup = cluster.start(workers=2, **QUEUEING)
    old = set(cluster.worker_pids(sup.pid))
    calls_before = len(control.poll_stats(TOKEN)["calls"])
    sent: dict[int, list[int]] = {}
    with key_events(cluster.client, KEYS.poll_lease) as lease_events:
        os.kill(sup.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while old & set(cluster.worker_pids(sup.pid)) or len(cluster.worker_pids(sup.pid)) < 2:
            for chat, ids in inject(control, range(9000, 9005), per_user=3, command="slow").items():
                sent.setdefault(chat, []).extend(ids)
            time.sleep(0.5)
            assert time.monotonic() < deadline, "the roll did not finish"
        all_handled(cluster, sum(map(len, sent.values())))
        # the poll lease moved by release, never by waiting for it to expire
        assert "expired" not in lease_events()
    assert set(cluster.handled().values()) == {1}
    assert_chats_in_order(cluster, sent)
    wait_until(lambda: all(len(control.sent(TOKEN, c)) == len(ids) for c, ids in sent.items()), 30,
               what="every reply")
    assert_replies_in_order(control, sent, prefix="slow")
    calls = control.poll_stats(TOKEN)["calls"][calls_before:]
    gaps = [b["start_monotonic"] - a["end_monotonic"] for a, b in zip(calls, calls[1:])]
    assert min(gaps) >= 0 and max(gaps) < 10.0, f"polling paused for {max(gaps):.1f}s during the roll"
    assert_one_poller(control)
    assert "rolling workers" in cluster.log(sup)


def test_boot_error_halts_instead_of_crash_looping(cluster):
    sup = cluster.start(workers=2, wait=False, BOT_HANDLERS="no_such_module:router")
    assert sup.wait(30) == 3
    log = cluster.log(sup)
    assert "failed to boot" in log and log.count("Worker failed to boot") <= 2
