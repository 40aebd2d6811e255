"""The chaos suite's core scenarios with the pipeline on a real Redis Cluster (3 masters + 3 replicas).

Same scenarios, same bounds as on one Redis (tests/chaos/test_chaos.py): process faults (kill -9 of
a worker and of the poll-lease holder, a worker paused past its lease, a rebalance storm, a second
supervisor, a hanging handler). Faults of Redis itself on a cluster are a master failover
(test_cluster_runner.py) and a master killed, below."""
from __future__ import annotations

import signal
import time

import pytest

from tests.chaos.harness import ChaosRun, Result, on_cluster
from tests.chaos.scenarios import SCENARIOS
from tests.chaos.test_chaos import BOUNDS
from tests.redis_cluster import cluster_binaries

CORE = ["kill_worker", "kill_poller", "sigstop_worker", "rebalance_storm", "second_supervisor", "hanging_handler"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", CORE)
def test_core_scenario_on_a_cluster(name):
    cluster_binaries()
    with on_cluster():
        result = SCENARIOS[name]()
    assert "redis: cluster of 3 masters" in result.notes, result
    lost, duplicates, order = BOUNDS[name]
    assert result.pending_left == 0, f"{result.pending_left} entries left pending in the lanes: {result}"
    assert result.lost <= lost, result
    assert result.duplicates <= duplicates, result
    assert result.order_violations <= order, result
    if name == "hanging_handler":
        assert result.dead_lettered == 3, result


KILL_MASTER_WINDOW = ("replication is asynchronous: writes the killed master acknowledged but had not yet sent "
                      "to its replica are gone with it (an intake batch: lost, as Telegram had it confirmed; a "
                      "completion marker: that update handled again)")
BATCH = 100


def kill_master() -> Result:
    """kill -9 of the master serving the poll slot (and about a third of the lanes) mid-stream: its replica
    takes over after cluster-node-timeout (2 s here) and the workers follow the new slot map."""
    from redis.crc import key_slot

    from tests.chaos.harness import KEYS
    with ChaosRun("kill -9 of a cluster master (automatic failover)") as run:
        run.start(2)
        stream = run.stream()
        time.sleep(2)
        nodes = run.cluster
        victim = nodes.master_of_slot(key_slot(KEYS.poll_lease.encode()))
        run.mark_fault()
        nodes.procs[victim].send_signal(signal.SIGKILL)
        nodes.procs[victim].wait(10)
        nodes.wait_ok(60)
        run.settle(stream, timeout=120)
        res = run.result(stream, KILL_MASTER_WINDOW)
        res.notes.append(f"killed master {victim}; masters now {nodes.master_ports()}")
        return res


@pytest.mark.timeout(300)
def test_a_cluster_master_killed_mid_stream_fails_over_within_the_replication_window():
    cluster_binaries()
    with on_cluster():
        result = kill_master()
    assert "redis: cluster of 3 masters" in result.notes, result
    assert result.pending_left == 0, result
    assert result.lost <= BATCH and result.duplicates <= BATCH, result   # the asynchronous-replication window
    assert result.order_violations <= BATCH, result
    print(result)
