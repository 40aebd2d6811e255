"""The chaos suite's core scenarios with the pipeline on a real Redis Cluster (3 masters + 3 replicas).

Same scenarios, same bounds as on one Redis (tests/chaos/test_chaos.py): process faults (kill -9 of
a worker and of the poll-lease holder, a worker paused past its lease, a rebalance storm, a second
supervisor, a hanging handler). Faults of Redis itself on a cluster are a master failover
(test_cluster_runner.py), and below a master killed and a master paused past the node timeout (the
cluster's counterparts of the single-Redis SIGSTOP scenarios: on one Redis a pause is waited out,
on a cluster its replica takes over)."""
from __future__ import annotations

import signal
import time

import pytest

from tests.chaos.harness import ChaosRun, Result, on_cluster
from tests.chaos.scenarios import SCENARIOS
from tests.chaos.test_chaos import BOUNDS, IN_FLIGHT
from tests.redis_cluster import cluster_binaries

CORE = ["kill_worker", "kill_poller", "sigstop_worker", "rebalance_storm", "second_supervisor", "hanging_handler"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", CORE)
def test_core_scenario_on_a_cluster(name):
    cluster_binaries()
    with on_cluster():
        result = SCENARIOS[name]()
    print(result)
    result.report_if_unusual()
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
WAIT_WINDOW = ("with the replication waits, nothing confirmed is lost: a completion marker the killed master had not "
               "yet sent to its replica gets that update handled again; the promoted master's lanes wait for a "
               "replica of their own")
BATCH = 100


def kill_master(**settings: str) -> Result:
    """kill -9 of the master serving the poll slot (and about a third of the lanes) mid-stream: its replica
    takes over after cluster-node-timeout (2 s here) and the workers follow the new slot map.
    `settings`: extra environment for the supervisor (the replication waits)."""
    from redis.crc import key_slot

    from tests.chaos.harness import KEYS
    waits = " with INTAKE_WAIT_REPLICAS=1, LEASE_WAIT_REPLICAS=1" if settings else ""
    with ChaosRun("kill -9 of a cluster master (automatic failover)" + waits) as run:
        run.start(2, **settings)
        stream = run.stream()
        time.sleep(2)
        nodes = run.cluster
        victim = nodes.master_of_slot(key_slot(KEYS.poll_lease.encode()))
        run.mark_fault()
        nodes.procs[victim].send_signal(signal.SIGKILL)
        nodes.procs[victim].wait(10)
        nodes.wait_ok(60)
        if settings:     # the promoted replica has no replica of its own: WAIT 1 stalls its lanes until one is back
            nodes._start_node(cluster_binaries()[0], victim)
            run.wait_until(lambda: nodes.client(victim).info("replication").get("master_link_status") == "up", 60,
                           f"{victim} back as a replica")
        run.settle(stream, timeout=120)
        res = run.result(stream, WAIT_WINDOW if settings else KILL_MASTER_WINDOW)
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


@pytest.mark.timeout(300)
def test_a_cluster_master_killed_mid_stream_with_replication_waits_loses_nothing():
    """With INTAKE_WAIT_REPLICAS=1 a batch is confirmed to Telegram only once the replica of every master
    it went to has it, so the promoted replica holds every confirmed update: nothing is lost. Completion
    markers are not waited for: an update the dead master had marked done may be handled again. The
    promoted replica has no replica of its own, so its lanes wait (batches not confirmed, fetched again)
    until the killed node is back, as its replica: with one replica per master that is the price of the
    wait (run two per master to keep going through a failover)."""
    cluster_binaries()
    with on_cluster():
        result = kill_master(INTAKE_WAIT_REPLICAS="1", LEASE_WAIT_REPLICAS="1")
    print(result)
    assert "redis: cluster of 3 masters" in result.notes, result
    assert result.pending_left == 0, result
    assert result.lost == 0, result
    assert result.duplicates <= BATCH and result.order_violations <= BATCH, result


PAUSE_WINDOW = ("calls to the paused node wait for it; a reply whose journal entry waited on it is sent again "
                "if its lane's lease lapsed meanwhile")


def pause_master(seconds: float) -> Result:
    """SIGSTOP of the master serving the poll slot for `seconds`. Past cluster-node-timeout (2 s here) its
    replica is promoted; the paused node wakes still holding its clients' connections and is demoted by
    the cluster; calls caught by the pause time out (REDIS_TIMEOUT_S, 3 s here) and go to the new
    master. Shorter, no failover: calls wait for the node to wake."""
    from redis.crc import key_slot

    from tests.chaos.harness import KEYS
    failover = seconds > 2
    with ChaosRun(f"SIGSTOP of a cluster master for {seconds:g} s" + (" (its replica promoted)" if failover
                                                                       else " (no failover)")) as run:
        run.start(2, REDIS_TIMEOUT_S="3")
        stream = run.stream()
        time.sleep(2)
        nodes = run.cluster
        victim = nodes.master_of_slot(key_slot(KEYS.poll_lease.encode()))
        replica = nodes.replica_of(victim)
        run.mark_fault()
        nodes.procs[victim].send_signal(signal.SIGSTOP)
        paused_at = time.monotonic()
        try:       # only the replica is asked: a question to the paused node would hang until it wakes
            if failover:
                run.wait_until(lambda: nodes.client(replica).info("replication")["role"] == "master", 30,
                               f"replica {replica} promoted")
            promoted_s = time.monotonic() - paused_at
            time.sleep(max(0.0, paused_at + seconds - time.monotonic()))
        finally:
            nodes.procs[victim].send_signal(signal.SIGCONT)
        nodes.wait_ok(60)
        run.settle(stream, timeout=120)
        res = run.result(stream, KILL_MASTER_WINDOW if failover else PAUSE_WINDOW)
        res.notes.append(f"paused master {victim}" + (f", replica {replica} promoted after {promoted_s:.1f} s"
                                                      if failover else "") + f"; {victim} is now a {nodes.roles()[victim]}")
        return res


@pytest.mark.timeout(300)
def test_a_cluster_master_paused_past_the_node_timeout_fails_over_and_is_demoted_when_it_wakes():
    cluster_binaries()
    with on_cluster():
        result = pause_master(5)
    print(result)
    assert "redis: cluster of 3 masters" in result.notes, result
    assert "is now a slave" in result.notes[-1], result
    assert result.pending_left == 0, result
    assert result.lost <= BATCH and result.duplicates <= BATCH, result   # the asynchronous-replication window
    assert result.order_violations <= BATCH, result


@pytest.mark.timeout(300)
def test_a_cluster_master_paused_below_the_node_timeout_is_waited_for_and_loses_nothing():
    """1 s, no failover: the lanes of the other masters go on; those of the paused one wait. Nothing is
    lost or reordered; a reply sent just before the pause whose journal entry waits on the paused node
    may be sent again if its lane's lease lapses meanwhile (IN_FLIGHT per worker)."""
    cluster_binaries()
    with on_cluster():
        result = pause_master(1)
    print(result)
    assert "redis: cluster of 3 masters" in result.notes, result
    assert "is now a master" in result.notes[-1], result
    assert result.pending_left == 0, result
    assert result.lost == 0 and result.order_violations == 0, result
    assert result.duplicates <= 2 * IN_FLIGHT, result        # both workers have lanes on the paused master


def flush_master(which: str, restart: bool) -> Result:
    """One master loses its data mid-stream while the others keep theirs: FLUSHALL on it, or a kill -9 and
    a restart without its AOF (its replica told not to fail over, so the empty node comes back as the
    master and its replica resyncs from it). `which`: "lanes", a master serving lanes but neither {meta}
    nor {poll}; "meta", the master of the {meta} slot (the generation and the faults counters)."""
    import shutil

    from redis.crc import key_slot

    from botrunner.tools.status import snapshot
    from tests.chaos.harness import KEYS, LANES
    from tests.chaos.scenarios import LOSS_WINDOW
    fault = "restart without AOF" if restart else "FLUSHALL"
    with ChaosRun(f"{fault} of one cluster master ({which})") as run:
        nodes = run.cluster
        meta = nodes.master_of_slot(key_slot(KEYS.faults.encode()))
        poll = nodes.master_of_slot(key_slot(KEYS.poll_lease.encode()))
        lanes_of = {m: {n for n in range(LANES) if nodes.master_of_slot(key_slot(KEYS.lane(n).encode())) == m}
                    for m in nodes.master_ports()}
        victim = meta if which == "meta" else next(m for m in nodes.master_ports() if m not in (meta, poll)
                                                   and lanes_of[m])
        run.start(2)
        stream = run.stream()
        time.sleep(2.5)
        if restart:
            nodes.client(nodes.replica_of(victim)).config_set("cluster-replica-no-failover", "yes")
        run.mark_fault()
        if restart:
            nodes.procs[victim].send_signal(signal.SIGKILL)
            nodes.procs[victim].wait(10)
            home = nodes.directory / str(victim)
            shutil.rmtree(home / "appendonlydir", ignore_errors=True)
            (home / "dump.rdb").unlink(missing_ok=True)
            nodes._start_node(cluster_binaries()[0], victim)
        else:
            nodes.client(victim).flushall()
        nodes.wait_ok(60)
        run.settle(stream, timeout=120)
        res = run.result(stream, LOSS_WINDOW)
        res.notes.append(f"data losses in status: {snapshot(run.client, KEYS, LANES).data_losses}")
        markers = {n: (run.client.get(KEYS.lane_generation(n)) or b"").decode().split(":")[0] for n in range(LANES)}
        res.notes.append("lanes of the victim at generation 2: " +
                         str(all(markers[n] == "2" for n in lanes_of[victim])))
        res.notes.append("other lanes at generation 1: " +
                         str(all(markers[n] == "1" for n in range(LANES) if n not in lanes_of[victim])))
        res.notes.append(f"{fault} of master {victim} (lanes {sorted(lanes_of[victim])}; {{meta}} on {meta}, "
                         f"{{poll}} on {poll})")
        return res


@pytest.mark.timeout(300)
@pytest.mark.parametrize("which, restart", [("lanes", False), ("meta", False), ("lanes", True)])
def test_one_master_losing_its_data_is_detected_for_its_lanes_and_loses_only_the_documented_window(which, restart):
    """The lanes of the victim lose their groups (NOGROUP) and stored-but-unread entries; the workers detect
    it from those lanes' markers, count it once, recreate the groups and go on; the other lanes are not
    touched (their markers stay at generation 1). Bounds as on one Redis (tests/chaos: redis_flushall)."""
    cluster_binaries()
    with on_cluster():
        result = flush_master(which, restart)
    print(result)
    result.report_if_unusual()
    lost, duplicates, order = BOUNDS["redis_flushall"]
    assert "redis: cluster of 3 masters" in result.notes, result
    assert result.pending_left == 0, result
    assert result.lost <= lost and result.duplicates <= duplicates and result.order_violations <= order, result
    assert "data losses in status: 1" in result.notes, result
    assert "lanes of the victim at generation 2: True" in result.notes, result
    assert "other lanes at generation 1: True" in result.notes, result
