"""`botrunner start` on a real Redis Cluster: a burst with several workers, and a master failover mid-stream."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.runner.conftest import (
    TOKEN,
    assert_chats_in_order,
    assert_handled_once,
    assert_replies_in_order,
    inject,
    stream,
    wait_until,
)


def assert_one_poller(control):
    stats = control.poll_stats(TOKEN)
    assert stats["max_concurrent"] == 1 and stats["conflicts"] == 0


def test_burst_through_a_cluster_with_several_workers(cluster_run, emulator):
    _, control = emulator
    # leases of 10 s, not the fixture's 2 s: on a loaded machine a 2-s lane lease lapses now and then
    # (its handler then runs again, sending nothing), and this test counts handler runs, exactly once
    cluster_run.start(workers=3, LANE_LEASE_TTL_MS="10000")
    sent = inject(control, range(1000, 1060), per_user=10)
    total = sum(map(len, sent.values()))
    wait_until(lambda: len(cluster_run.handled()) >= total, 120, 0.2, f"{total} handled updates")
    wait_until(lambda: cluster_run.pending() == 0, 30, what="every update acknowledged")
    counts = cluster_run.handled()
    assert len(counts) == total and set(counts.values()) == {1}
    assert_chats_in_order(cluster_run, sent)
    wait_until(lambda: all(len(control.sent(TOKEN, chat)) == 10 for chat in sent), 30, what="every reply")
    assert_replies_in_order(control, sent)
    assert_one_poller(control)
    assert len({int(w["pid"]) for w in cluster_run.workers() if w["lanes"]}) >= 2
    status = subprocess.run([sys.executable, "-m", "botrunner", "status", "--json"], env=cluster_run.env(),
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert len(report["workers"]) == 3 and sum(pending + unread for _, pending, unread, _ in report["lanes"]) == 0, report


def test_master_failover_mid_stream_loses_nothing_and_keeps_order(cluster_run, emulator):
    """CLUSTER FAILOVER on a replica while updates stream in: the workers follow the new master."""
    _, control = emulator
    cluster_run.start(workers=2, LANE_LEASE_TTL_MS="10000")      # 10-s leases: see the burst test above
    feeder, sent, streaming = stream(control, 20)
    streaming.wait(30)
    nodes = cluster_run.nodes
    poll_master = nodes.master_of_slot(_slot_of_poll())
    promoted = nodes.failover(poll_master)
    feeder.join(60)
    total = sum(map(len, sent.values()))
    wait_until(lambda: len(cluster_run.handled()) >= total, 120, 0.2, f"{total} handled updates")
    wait_until(lambda: cluster_run.pending() == 0, 60, what="every update acknowledged")
    counts = assert_handled_once(cluster_run, total)
    assert_chats_in_order(cluster_run, sent, exactly_once=set(counts.values()) == {1})
    wait_until(lambda: all(len(control.sent(TOKEN, chat)) == len(ids) for chat, ids in sent.items()), 30,
               what="every reply")
    assert_replies_in_order(control, sent)         # each answered once, even where a handler ran again
    assert nodes.master_of_slot(_slot_of_poll()) == promoted
    assert_one_poller(control)


def _slot_of_poll() -> int:
    from redis.crc import key_slot

    from tests.runner.conftest import KEYS
    return key_slot(KEYS.poll_lease.encode())
