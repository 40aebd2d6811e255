"""Data-loss detection on a real Redis Cluster (botrunner.lanes.generation): one master loses its data
(FLUSHALL on it) while the others keep theirs. Exactly the lanes that master serves are reported lost,
the loss is counted once however many workers see it, the other lanes' markers, groups and entries are
untouched, and a reader on the cluster recreates the groups and handles what comes next."""
from __future__ import annotations

import asyncio

import redis
from redis.crc import key_slot

from botrunner.lanes.generation import Generation, losses
from botrunner.redis_scripts import ScriptedCluster
from tests.lanes.test_fault_holes import KEYS, Recording, eventually, log_lines

LANES = 12


def lanes_of(nodes, master: int) -> set[int]:
    return {n for n in range(LANES) if nodes.master_of_slot(key_slot(KEYS.lane(n).encode())) == master}


def victim_without_meta(nodes) -> int:
    """A master serving some lanes but not the {meta} slot (so the faults hash survives the flush)."""
    meta = nodes.master_of_slot(key_slot(KEYS.faults.encode()))
    return next(m for m in nodes.master_ports() if m != meta and lanes_of(nodes, m))


def counted(nodes) -> tuple[int, int]:
    """(faults data_loss, losses in `botrunner status`) as the cluster holds them."""
    client = redis.RedisCluster.from_url(nodes.url)
    try:
        generation = client.get(KEYS.generation)
        return int(client.hget(KEYS.faults, "data_loss") or 0), losses(generation.decode() if generation else None)
    finally:
        client.close()


def test_a_flushed_master_is_reported_for_exactly_its_lanes_and_counted_once(redis_cluster):
    victim = victim_without_meta(redis_cluster)
    lost_lanes = lanes_of(redis_cluster, victim)
    meta = redis_cluster.master_of_slot(key_slot(KEYS.faults.encode()))
    lines, sink = log_lines("CRITICAL")

    async def scenario() -> list[frozenset[int]]:
        client = ScriptedCluster.from_url(redis_cluster.url)
        first, second = Generation(client, KEYS, LANES), Generation(client, KEYS, LANES)
        seen = [await first.check(), await second.check()]             # boot: nothing lost
        redis_cluster.client(victim).flushall()
        seen += [await first.check(), await second.check()]            # both see it; one counts it
        seen += [await first.check(), await second.check()]            # and then it is over
        redis_cluster.client(meta).flushall()       # the {meta} master: its lanes and the faults hash
        seen += [await second.check(), await first.check()]            # a second loss: counted again
        await client.aclose()
        return seen

    from loguru import logger
    try:
        seen = asyncio.run(scenario())
    finally:
        logger.remove(sink)
    assert seen[:2] == [frozenset(), frozenset()]
    assert seen[2] == seen[3] == frozenset(lost_lanes)
    assert seen[4:6] == [frozenset(), frozenset()]
    assert seen[6] == seen[7] == frozenset(lanes_of(redis_cluster, meta))
    # the faults hash went with the {meta} master (as on one Redis); the status count is kept by the workers
    assert counted(redis_cluster) == (1, 2)
    assert len([line for line in lines if "DATA LOSS" in line]) == 2       # loud once per loss


def test_a_reader_on_the_cluster_recovers_the_flushed_lanes_and_leaves_the_others_alone(redis_cluster):
    victim = victim_without_meta(redis_cluster)
    lost_lanes = lanes_of(redis_cluster, victim)
    kept_lanes = set(range(LANES)) - lost_lanes

    async def scenario(client) -> dict[str, object]:
        pipe = Recording(client, lanes=LANES, ttl_ms=3000)
        await pipe.start()
        for n in range(LANES):
            await client.xadd(KEYS.lane(n), {"update_id": n, "update": "{}"})
        await eventually(lambda: _is(sorted(pipe.handled) == list(range(LANES))), what="the first updates")
        markers = {n: await client.get(KEYS.lane_generation(n)) for n in kept_lanes}
        owners = {n: await client.get(KEYS.lane_owner(n)) for n in kept_lanes}
        redis_cluster.client(victim).flushall()      # that master's streams, groups, leases and markers are gone
        for n in range(LANES):                       # intake goes on (XADD makes the stream, not the group)
            await client.xadd(KEYS.lane(n), {"update_id": 100 + n, "update": "{}"})
        await eventually(lambda: _is(len(pipe.handled) == 2 * LANES), timeout=30, what="updates after the flush")
        after = {
            "markers": markers == {n: await client.get(KEYS.lane_generation(n)) for n in kept_lanes},
            "owners": owners == {n: await client.get(KEYS.lane_owner(n)) for n in kept_lanes},
            "kept_read": {n: (await client.xinfo_groups(KEYS.lane(n)))[0]["entries-read"] for n in kept_lanes},
            "lost_read": {n: (await client.xinfo_groups(KEYS.lane(n)))[0]["entries-read"] for n in lost_lanes},
            "handled": sorted(pipe.handled),
        }
        await pipe.stop()
        return after

    async def main():
        client = ScriptedCluster.from_url(redis_cluster.url)
        try:
            return await asyncio.wait_for(scenario(client), 90)
        finally:
            await client.aclose()
    after = asyncio.run(main())
    assert after["handled"] == sorted([*range(LANES), *range(100, 100 + LANES)])
    assert after["markers"] and after["owners"]           # the other masters' lanes: same generation, same lease
    assert set(after["kept_read"].values()) == {2}        # their groups kept counting (both entries read)
    assert set(after["lost_read"].values()) == {1}        # recreated: only the entry added after the flush
    assert counted(redis_cluster)[0] == 1


async def _is(value: bool) -> bool:
    return value
