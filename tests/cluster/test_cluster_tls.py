"""`botrunner start` on a Redis Cluster that speaks only TLS (tests/cluster/tls_cluster.py): REDIS_CLUSTER=true,
REDIS_URL=rediss://<any node>, client certificates required; the nodes it learns from the slot map
are reached over TLS too. A burst with several workers, a master failover mid-stream, and the
asyncio cluster client's pub/sub (the lane events) over TLS."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from botrunner import redis_clients
from botrunner.config.settings import load_settings
from tests.cluster.tls_cluster import TlsClusterNodes, TlsClusterRun
from tests.redis_ha.tls_certs import make_certs
from tests.runner.conftest import (
    ROOT,
    TOKEN,
    assert_chats_in_order,
    assert_handled_once,
    assert_replies_in_order,
    inject,
    stream,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls_cluster_nodes(tmp_path_factory):
    certs = make_certs(tmp_path_factory.mktemp("br-cluster-tls-certs"))
    nodes = TlsClusterNodes(tmp_path_factory.mktemp("br-cluster-tls"), certs=certs).start()
    yield nodes
    nodes.stop()


@pytest.fixture
def tls_cluster_run(tmp_path, tls_cluster_nodes, redis_url, emulator):
    tls_cluster_nodes.wait_ok()
    tls_cluster_nodes.flush()
    emu, _ = emulator
    group = TlsClusterRun(tmp_path, tls_cluster_nodes, redis_url, emu.url)
    try:
        yield group
    finally:
        group.stop_all()
        group.client.close()
        group.record.close()


def test_the_cluster_clients_pub_sub_runs_over_tls(tls_cluster_nodes, tmp_path):
    s = load_settings(environ={"REDIS_CLUSTER": "true", "REDIS_URL": tls_cluster_nodes.url,
                               "STATE_DIR": str(tmp_path), **tls_cluster_nodes.certs.env(client_cert=True)},
                      env_file=None)

    async def roundtrip() -> list:
        client = redis_clients.async_client(s, 0, timeout=5)
        events = client.pubsub()                 # on one node, made from that node's (TLS) connection options
        await events.subscribe("tls:lanes")
        await events.get_message(timeout=5)
        await client.publish("tls:lanes", "moved")   # through any node: a cluster delivers it on every node
        got = None
        for _ in range(10):
            got = got or await events.get_message(ignore_subscribe_messages=True, timeout=1)
        await events.aclose()
        await client.aclose()
        return got and got["data"]
    assert asyncio.run(roundtrip()) == b"moved"
    sync = redis_clients.sync_client(s, 0, timeout=5)
    assert sync.set("tls:{x}", "1") and sync.get("tls:{x}") == b"1"


def test_burst_through_a_tls_cluster_with_several_workers(tls_cluster_run, emulator):
    _, control = emulator
    tls_cluster_run.start(workers=3, LANE_LEASE_TTL_MS="10000")     # 10-s leases: see test_cluster_runner.py
    sent = inject(control, range(1000, 1040), per_user=10)
    total = sum(map(len, sent.values()))
    wait_until(lambda: len(tls_cluster_run.handled()) >= total, 120, 0.2, f"{total} handled updates")
    wait_until(lambda: tls_cluster_run.pending() == 0, 30, what="every update acknowledged")
    counts = tls_cluster_run.handled()
    assert len(counts) == total and set(counts.values()) == {1}
    assert_chats_in_order(tls_cluster_run, sent)
    wait_until(lambda: all(len(control.sent(TOKEN, chat)) == 10 for chat in sent), 30, what="every reply")
    assert_replies_in_order(control, sent)
    status = subprocess.run([sys.executable, "-m", "botrunner", "status", "--json"], env=tls_cluster_run.env(),
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert len(report["workers"]) == 3 and sum(pending + unread for _, pending, unread, _ in report["lanes"]) == 0


def test_master_failover_in_a_tls_cluster_loses_nothing(tls_cluster_run, emulator):
    """CLUSTER FAILOVER of the poll lease's master while updates stream in: the workers follow the
    promoted replica, over TLS, as they do on a plain cluster (tests/cluster/test_cluster_runner.py)."""
    from redis.crc import key_slot

    from tests.runner.conftest import KEYS
    _, control = emulator
    tls_cluster_run.start(workers=2, LANE_LEASE_TTL_MS="10000")
    feeder, sent, streaming = stream(control, 15)
    streaming.wait(30)
    nodes = tls_cluster_run.nodes
    poll_master = nodes.master_of_slot(key_slot(KEYS.poll_lease.encode()))
    promoted = nodes.failover(poll_master)
    feeder.join(60)
    total = sum(map(len, sent.values()))
    wait_until(lambda: len(tls_cluster_run.handled()) >= total, 120, 0.2, f"{total} handled updates")
    wait_until(lambda: tls_cluster_run.pending() == 0, 60, what="every update acknowledged")
    counts = assert_handled_once(tls_cluster_run, total)
    assert_chats_in_order(tls_cluster_run, sent, exactly_once=set(counts.values()) == {1})
    wait_until(lambda: all(len(control.sent(TOKEN, chat)) == len(ids) for chat, ids in sent.items()), 30,
               what="every reply")
    assert_replies_in_order(control, sent)         # each answered once, even where a handler ran again
    assert nodes.master_of_slot(key_slot(KEYS.poll_lease.encode())) == promoted
