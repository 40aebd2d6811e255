"""`botrunner check` on a Redis Cluster names each master's replicas and fails when one has fewer than
the replication waits (INTAKE_WAIT_REPLICAS / LEASE_WAIT_REPLICAS) need: every master a batch's lanes
went to is waited for, so one short master stops those lanes."""
from __future__ import annotations

import signal
import time

import pytest

from botrunner.config.settings import load_settings
from botrunner.errors import OperatorError
from botrunner.tools.preflight import check_redis

pytestmark = pytest.mark.slow


def cluster_settings(nodes, tmp_path, **extra: str):
    return load_settings(environ={"REDIS_CLUSTER": "true", "REDIS_URL": nodes.url, "STATE_DIR": str(tmp_path),
                                  "BOT_TOKEN": "123:check", **extra}, env_file=None)


def test_check_counts_every_masters_replicas(redis_cluster, tmp_path):
    line = check_redis(cluster_settings(redis_cluster, tmp_path, INTAKE_WAIT_REPLICAS="1"))
    assert "3 masters, 1 to 1 replica(s) each, waits need 1 (one down stops its master's lanes" in line
    assert "waits need 0" in check_redis(cluster_settings(redis_cluster, tmp_path))
    with pytest.raises(OperatorError, match=r"cluster master\(s\) .*\(1\), .*\(1\), .*\(1\) have fewer replicas"):
        check_redis(cluster_settings(redis_cluster, tmp_path, INTAKE_WAIT_REPLICAS="2"))


def test_check_names_the_master_whose_replica_is_gone(redis_cluster, tmp_path):
    master = redis_cluster.master_ports()[0]
    replica = redis_cluster.replica_of(master)
    proc = redis_cluster.procs[replica]
    proc.send_signal(signal.SIGSTOP)          # its master drops it after the replication timeout
    try:
        redis_cluster.client(master).config_set("repl-timeout", 1)
        deadline_hit = _wait_for(lambda: redis_cluster.client(master).info("replication")["connected_slaves"] == 0)
        assert deadline_hit, "the master never noticed its replica gone"
        with pytest.raises(OperatorError, match=rf"127.0.0.1:{master} \(0\)"):
            check_redis(cluster_settings(redis_cluster, tmp_path, LEASE_WAIT_REPLICAS="1"))
    finally:
        proc.send_signal(signal.SIGCONT)
        redis_cluster.client(master).config_set("repl-timeout", 60)
        _wait_for(lambda: redis_cluster.client(master).info("replication")["connected_slaves"] == 1)


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
