"""INTAKE_WAIT_REPLICAS / LEASE_WAIT_REPLICAS on a real Redis Cluster (3 masters, one replica each):
WAIT goes to every master a write went to, on the connection that took it (botrunner.lease.WaitTail).
A batch acknowledged with WAIT is on each master's replica at once; with one replica paused (SIGSTOP)
a write to its master is not counted as stored (the batch raises NotReplicated, a lease is not taken
and a renewal does not move the deadline), as on one Redis, while writes to the other masters are."""
from __future__ import annotations

import asyncio
import json
import signal
import time
from contextlib import contextmanager

import pytest
import redis
from redis.crc import key_slot

from botrunner.errors import NotReplicated
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.store import Intake
from botrunner.lanes.leases import LaneLeases
from botrunner.redis_keys import Keys
from botrunner.redis_scripts import ScriptedCluster

KEYS = Keys.for_token("4444:wait")
LANES = 12


def master_of(nodes, key: str) -> int:
    return nodes.master_of_slot(key_slot(key.encode()))


def lanes_by_master(nodes) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for n in range(LANES):
        found.setdefault(master_of(nodes, KEYS.lane(n)), []).append(n)
    return found


def entries(lanes: list[int], first_id: int) -> list[tuple[int, int, str]]:
    return [(first_id + i, lane, json.dumps({"update_id": first_id + i})) for i, lane in enumerate(lanes)]


def replica_xlen(nodes, master: int, key: str) -> int:
    """XLEN asked of the master's replica itself (READONLY on one connection), not of the master."""
    replica = redis.Redis(host="127.0.0.1", port=nodes.replica_of(master), single_connection_client=True)
    try:
        replica.execute_command("READONLY")
        return int(replica.xlen(key))
    finally:
        replica.close()


@contextmanager
def paused(nodes, ports: list[int]):
    """SIGSTOP these nodes, SIGCONT them whatever happens, and wait until every replica is back in sync."""
    for port in ports:
        nodes.procs[port].send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for port in ports:
            nodes.procs[port].send_signal(signal.SIGCONT)
        nodes.wait_ok()


def run(coro_fn, nodes):
    async def main():
        client = ScriptedCluster.from_url(nodes.url)
        try:
            return await asyncio.wait_for(coro_fn(client), 60)
        finally:
            await client.aclose()
    return asyncio.run(main())


def test_a_batch_acknowledged_with_wait_is_on_the_replica_of_every_master_it_touched(redis_cluster):
    by_master = lanes_by_master(redis_cluster)
    assert len(by_master) == 3
    lanes = [lane for group in by_master.values() for lane in group]

    async def scenario(client):
        return await Intake(client, KEYS, wait_replicas=1, wait_timeout_ms=5000).store_unleased(entries(lanes, 1))
    assert run(scenario, redis_cluster) == LANES
    for master, group in by_master.items():
        for lane in group:
            assert replica_xlen(redis_cluster, master, KEYS.lane(lane)) == 1, (master, lane)


def test_with_a_replica_paused_only_the_writes_to_its_master_are_not_counted(redis_cluster):
    by_master = lanes_by_master(redis_cluster)
    victim = master_of(redis_cluster, KEYS.lane(0))
    victim_lane = by_master[victim][1]
    others = [lane for master, group in by_master.items() if master != victim for lane in group]
    poll_master = master_of(redis_cluster, KEYS.poll_lease)

    async def take(client):
        """Before the pause: the leases are taken (replicated), and every script is loaded on every node
        (loading one goes to every node, the paused replica too, and would wait for it)."""
        leases = LaneLeases(client, KEYS, "w", LANES, 3000, replicas=1)
        taken = [await leases.acquire(lane) for lane in (0, others[0])]
        await leases.renew()
        await Intake(client, KEYS).store_unleased(entries([0, *others], 1))
        poll = PollLease(client, KEYS, "w", 3000, replicas=1)
        await poll.acquire()
        await poll.release()
        return leases, taken

    async def scenario(client):
        leases, taken = await take(client)          # before the pause: both replicated
        outcome = {"taken": taken}
        with paused(redis_cluster, [redis_cluster.replica_of(victim)]):
            intake = Intake(client, KEYS, wait_replicas=1, wait_timeout_ms=300)
            outcome["others"] = await intake.store_unleased(entries(others, 100))
            fresh = LaneLeases(client, KEYS, "w2", LANES, 3000, replicas=1)
            outcome["acquired"] = {lane: await fresh.acquire(lane) for lane in (others[1], victim_lane)}
            before = dict(leases.valid_until)
            outcome["lost"] = await leases.renew()
            outcome["deadline_moved"] = [lane for lane in before if leases.valid_until[lane] != before[lane]]
            try:
                await intake.store_unleased(entries([0, *others], 200))
                outcome["mixed"] = "stored"
            except NotReplicated as exc:
                outcome["mixed"] = str(exc)
            outcome["poll"] = await PollLease(client, KEYS, "w", 3000, replicas=1).acquire()
        return outcome

    outcome = run(scenario, redis_cluster)
    assert outcome["taken"] == [True, True]
    assert outcome["others"] == len(others)                             # the other masters' replicas answered
    assert outcome["acquired"] == {others[1]: True, victim_lane: False}
    assert outcome["lost"] == [] and outcome["deadline_moved"] == []   # renewed, but not counted as renewed
    assert outcome["mixed"].startswith("0 of 1 replica(s)"), outcome    # lane 0's master did not answer
    assert outcome["poll"] is (poll_master != victim)


def test_the_waits_on_several_masters_run_at_once(redis_cluster):
    by_master = lanes_by_master(redis_cluster)
    lanes = [group[0] for group in by_master.values()]
    replicas = [redis_cluster.replica_of(master) for master in by_master]

    async def scenario(client):
        intake = Intake(client, KEYS, wait_replicas=1, wait_timeout_ms=1500)
        started = time.monotonic()
        with pytest.raises(NotReplicated):
            await intake.store_unleased(entries(lanes, 10))
        return time.monotonic() - started

    run(lambda client: Intake(client, KEYS).store_unleased(entries(lanes, 1)), redis_cluster)  # scripts loaded
    with paused(redis_cluster, replicas):
        elapsed = run(scenario, redis_cluster)
    assert 1.4 < elapsed < 4.0, elapsed       # one timeout (1.5 s), not three one after the other (4.5 s)
