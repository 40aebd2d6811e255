"""The pipeline's scripts on a real Redis Cluster (3 masters + 3 replicas): every call stays in one slot.

A script that touched keys of two slots would be refused with CROSSSLOT here, so each test runs
one stage's calls against the cluster and checks what they wrote."""
from __future__ import annotations

import asyncio
import json

import pytest
from redis.crc import key_slot

from botrunner.errors import LaneLost, LeaseLost
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.store import Intake, prepare
from botrunner.lanes.leases import LaneLeases
from botrunner.metrics.cluster import read as read_snapshot
from botrunner.processing.completion import Completion
from botrunner.processing.dead_letters import DeadLetters
from botrunner.redis_keys import GROUP, Keys
from botrunner.sender.broadcast_slots import BroadcastSlots
from botrunner.sender.flood_limiter import FloodLimiter, Limits
from botrunner.sender.journal import OutboxJournal
from tests.cluster.conftest import run_on_cluster
from tests.updates import message

KEYS = Keys.for_token("4242:cluster")
LANES = 8




def test_64_lanes_spread_over_every_master(redis_cluster):
    masters = {redis_cluster.master_of_slot(key_slot(KEYS.lane(n).encode())) for n in range(64)}
    assert masters == set(redis_cluster.master_ports())
    for n in (0, 5, 63):        # everything keyed by a lane shares its slot
        slots = {key_slot(k.encode()) for k in (KEYS.lane(n), KEYS.lane_owner(n), KEYS.attempts(n),
                                                 KEYS.seen(n, 12345), KEYS.done(n, 12345), KEYS.send_journal(n, 1))}
        assert len(slots) == 1
    assert key_slot(KEYS.poll_lease.encode()) == key_slot(KEYS.poll_offset.encode()) != key_slot(KEYS.lane(0).encode())


def test_intake_stores_a_batch_over_many_lanes_then_the_offset(redis_cluster):
    batch = [message(i, chat, "x") for i, chat in enumerate(range(100, 140), start=1)]
    batch.append(message(41, 100, "again, chat 100"))

    async def scenario(client):
        lease = PollLease(client, KEYS, "w1", 5000)
        assert await lease.acquire()
        intake = Intake(client, KEYS)
        added = await intake.store(prepare(batch, LANES, 0), lease.value or "")
        again = await intake.store(prepare(batch, LANES, 0), lease.value or "")      # a retried batch
        stale = PollLease(client, KEYS, "w2", 5000)
        await client.delete(KEYS.poll_lease)
        assert await stale.acquire()
        with pytest.raises(LeaseLost):
            await intake.store(prepare([message(42, 100, "late")], LANES, 0), lease.value or "")
        return added, again, await intake.offset()
    assert run_on_cluster(redis_cluster, scenario) == (41, 0, 42)
    stored: dict[int, list[int]] = {}
    client = redis_cluster
    import redis
    sync = redis.RedisCluster.from_url(client.url)
    used = set()
    for n in range(LANES):
        for _, fields in sync.xrange(KEYS.lane(n)):
            update = json.loads(fields[b"update"])
            stored.setdefault(update["message"]["chat"]["id"], []).append(update["update_id"])
            used.add(redis_cluster.master_of_slot(key_slot(KEYS.lane(n).encode())))
    sync.close()
    assert stored[100] == [1, 41, 42]           # the stale poller's update is stored (once), its offset not
    assert sum(len(v) for v in stored.values()) == 42 and len(used) > 1


def test_leases_completion_journal_dead_letters_and_metrics(redis_cluster):
    async def scenario(client):
        leases = LaneLeases(client, KEYS, "w1", LANES, 5000)
        await leases.ensure_groups()
        assert all([await leases.acquire(n) for n in range(LANES)])
        assert await leases.renew() == []
        await client.set(KEYS.lane_owner(3), "someone-else")
        assert await leases.renew() == [3]
        intake = Intake(client, KEYS)
        await intake.store_unleased(prepare([message(i, 200 + i, "x") for i in range(1, 9)], LANES, 0).entries)
        completion, journal = Completion(client, KEYS), OutboxJournal(client, KEYS)
        handled, lost = 0, 0
        for n in range(LANES):
            for entry_id, fields in await leases.claim_pending(n) + [e for _, es in (await client.xreadgroup(
                    GROUP, "w1", {KEYS.lane(n): ">"}) or []) for e in es]:
                uid, eid = int(fields[b"update_id"]), entry_id.decode()
                assert (await completion.begin(n, eid, uid, uid)).attempt == 1
                try:
                    changed, done = await journal.begin(uid, uid, False, leases.fence(n))
                    await journal.confirm(uid, "0:abc", "sent", leases.fence(n))
                    if uid == 8:
                        await completion.dead_letter(n, eid, uid, fields[b"update"].decode(), "boom", 5)
                    else:
                        assert await completion.complete(n, eid, uid, leases.fence(n))
                    handled += 1
                except LaneLost:
                    lost += 1
        snap = await read_snapshot(client, KEYS, LANES)
        limiter = FloodLimiter(client, KEYS, Limits())
        status, _ = await limiter.acquire(200, True)
        scope = await limiter.freeze(201, 1.0)
        # a broadcast page's slots: one script over many recipients' keys, all in the {send} slot
        taken, _ = await BroadcastSlots(FloodLimiter(client, KEYS, Limits(global_rate=0))).take([201, 300, 301])
        return handled, lost, snap, status, scope, taken
    handled, lost, snap, status, scope, taken = run_on_cluster(redis_cluster, scenario)
    assert taken == [0, 1, 1]                      # 201 frozen by the 429 above
    assert handled + lost == 8 and snap.pipeline_known and snap.pending == lost and snap.unowned_lanes == 0
    assert status == 1 and scope == "chat"
    import redis
    sync = redis.RedisCluster.from_url(redis_cluster.url)
    dead = DeadLetters(sync, KEYS, LANES)
    [letter] = dead.list()
    assert letter.update_id == 8 and dead.replay(letter.id) is not None and dead.count() == 0
    sync.close()


def test_the_cluster_client_recovers_from_an_emptied_node_list_and_a_flushed_script_cache(redis_cluster):
    """redis-py drops a node from its startup list on each connection error; emptied, it could never
    re-read the slot map. And a promoted replica has no scripts: both are repaired by the client."""
    from botrunner.redis_scripts import ScriptedCluster

    async def scenario():
        client = ScriptedCluster.from_url(redis_cluster.url)
        try:
            lease = PollLease(client, KEYS, "w1", 5000)
            assert await lease.acquire()
            client.nodes_manager.startup_nodes.clear()
            await client.nodes_manager.initialize()
            for port in redis_cluster.master_ports():
                redis_cluster.client(port).script_flush()
            renewed = await lease.renew()                                   # a registered script: NOSCRIPT, loaded
            intake = Intake(client, KEYS)
            for port in redis_cluster.master_ports():
                redis_cluster.client(port).script_flush()
            stored = await intake.store(prepare([message(1, 5, "x")], LANES, 0), lease.value or "")  # a pipeline
            replicas_know = [redis_cluster.client(p).script_exists(intake._lane.sha)[0]
                             for p in redis_cluster.live_ports()]
            return renewed, stored, replicas_know
        finally:
            await client.aclose()
    renewed, stored, replicas_know = asyncio.run(scenario())
    assert renewed and stored == 1 and all(replicas_know)


def test_lane_events_reach_a_subscriber_on_a_cluster(redis_cluster):
    """The keepers' pub/sub (botrunner.lanes.events) on a cluster: subscribed on one node, published on any."""
    from botrunner.lanes.events import LaneEvents
    from botrunner.redis_scripts import ScriptedCluster

    async def scenario():
        client = ScriptedCluster.from_url(redis_cluster.url)
        events, stopping = LaneEvents(client, KEYS), asyncio.Event()
        listener = asyncio.create_task(events.listen(stopping))
        try:
            await asyncio.wait_for(events.subscribed.wait(), 10)
            events.wake.clear()
            await events.publish("joined w9")
            await asyncio.wait_for(events.wake.wait(), 10)
            return events.received
        finally:
            stopping.set()
            await asyncio.wait_for(listener, 10)
            await client.aclose()
    assert asyncio.run(scenario()) >= 1
