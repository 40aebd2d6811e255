"""Batched script calls on a real Redis Cluster, packed by hiredis and split by node (botrunner.packed_pipeline).

Each call appends its number to a list named by its key, so the lists show the order the scripts ran
in: the calls on one key must run in the order made, whichever node serves them, also when the
client's slot map is stale (a slot moved, a master failed over) and the node it picked answers MOVED
or ASK."""
from __future__ import annotations

import asyncio
import time

from redis.crc import key_slot

from botrunner.redis_batch import ScriptBatcher
from botrunner.redis_scripts import pipelined
from tests.cluster.conftest import run_on_cluster

APPEND = "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])"
KEYS = [f"{{order{n}}}" for n in range(12)]




async def appended(batcher: ScriptBatcher, calls: list[tuple[str, int]]) -> list[int]:
    append = batcher.script(APPEND)
    return list(await asyncio.gather(*(append(keys=[key], args=[n]) for key, n in calls)))


def lists(nodes, keys: list[str] = KEYS) -> dict[str, list[int]]:
    import redis
    sync = redis.RedisCluster.from_url(nodes.url, decode_responses=True)
    try:
        return {key: [int(x) for x in sync.lrange(key, 0, -1)] for key in keys}
    finally:
        sync.close()


def expected_lengths(calls: list[tuple[str, int]], before: int = 0) -> list[int]:
    seen: dict[str, int] = {}
    return [seen.__setitem__(key, seen.get(key, before) + 1) or seen[key] for key, _ in calls]


def test_one_batch_over_every_master_keeps_each_keys_order_and_reloads_forgotten_scripts(redis_cluster):
    calls = [(KEYS[n % len(KEYS)], n) for n in range(60)]
    assert len({redis_cluster.master_of_slot(key_slot(k.encode())) for k in KEYS}) == 3

    async def scenario(client):
        batcher = ScriptBatcher(client)
        first = await appended(batcher, calls)
        for port in redis_cluster.master_ports():           # a restarted node knows no scripts
            redis_cluster.client(port).script_flush()
        second = await appended(batcher, calls)
        return batcher.batches, first, second
    batches, first, second = run_on_cluster(redis_cluster, scenario)
    assert batches == 2 and first == expected_lengths(calls) and second == expected_lengths(calls, 5)
    assert lists(redis_cluster) == {key: [n for k, n in calls if k == key] * 2 for key in KEYS}


def test_a_slot_moved_under_a_batch_is_followed_in_call_order(redis_cluster):
    """The client's map names the old owner: MOVED for that slot's calls, sent again in order."""
    key = KEYS[0]
    slot = key_slot(key.encode())
    source = redis_cluster.master_of_slot(slot)
    target = next(p for p in redis_cluster.master_ports() if p != source)
    calls = [(KEYS[n % 4], n) for n in range(20)]

    async def scenario(client):
        batcher = ScriptBatcher(client)
        await appended(batcher, [(key, -1)])               # the client reads the slot map
        move_slot(redis_cluster, slot, source, target)
        try:
            results = await appended(batcher, calls)
            return results, client.nodes_manager.slots_cache[slot][0].port
        finally:
            move_slot(redis_cluster, slot, target, source)
    results, owner = run_on_cluster(redis_cluster, scenario)
    assert owner == target and results == [r + (k == key) for r, (k, _) in zip(expected_lengths(calls), calls)]
    assert lists(redis_cluster)[key] == [-1, *(n for k, n in calls if k == key)]


def test_a_slot_being_migrated_answers_ask_and_the_call_follows_it(redis_cluster):
    """Mid-migration: a key already moved is asked for at its new node (ASK), one still there is served."""
    moved, staying = "{migrating}a", "{migrating}b"
    slot = key_slot(moved.encode())
    source = redis_cluster.master_of_slot(slot)
    target = next(p for p in redis_cluster.master_ports() if p != source)
    src, dst = redis_cluster.client(source), redis_cluster.client(target)
    src.rpush(moved, 0)
    src.rpush(staying, 0)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src.execute_command("CLUSTER", "MYID"))
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst.execute_command("CLUSTER", "MYID"))
    src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", moved)
    calls = [(moved, 1), (staying, 1), (moved, 2), (staying, 2)]

    async def scenario(client):
        return await appended(ScriptBatcher(client), calls)
    try:
        results = run_on_cluster(redis_cluster, scenario)
    finally:
        move_slot(redis_cluster, slot, source, target)         # the keys still on the source too
        move_slot(redis_cluster, slot, target, source)
    assert results == [2, 2, 3, 3]
    assert lists(redis_cluster, [moved, staying]) == {moved: [0, 1, 2], staying: [0, 1, 2]}


def test_a_failover_under_batches_is_followed_and_nothing_runs_twice(redis_cluster):
    """CLUSTER FAILOVER between two batches: the demoted master answers MOVED, the calls go to the new one
    in order; redis_scripts.pipelined (intake, leases) takes the same path."""
    key = KEYS[1]
    master = redis_cluster.master_of_slot(key_slot(key.encode()))
    calls = [(KEYS[n % 3 + 1], n) for n in range(12)]

    async def scenario(client):
        batcher = ScriptBatcher(client)
        before = await appended(batcher, calls)
        promoted = await asyncio.to_thread(redis_cluster.failover, master)
        after = await appended(batcher, calls)
        script = client.register_script(APPEND)
        replies = await pipelined(client, [(script, [k], [100 + n]) for k, n in calls[:3]])
        return promoted, before, after, replies
    promoted, before, after, replies = run_on_cluster(redis_cluster, scenario)
    assert before == expected_lengths(calls) and after == expected_lengths(calls, 4) and replies == [9, 9, 9]
    assert redis_cluster.master_of_slot(key_slot(key.encode())) == promoted
    assert lists(redis_cluster)[key] == [n for k, n in calls if k == key] * 2 + [100]


def move_slot(nodes, slot: int, source: int, target: int) -> None:
    """Move a slot and its keys from one master to another, as redis-cli --cluster reshard does."""
    src, dst = nodes.client(source), nodes.client(target)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src.execute_command("CLUSTER", "MYID"))
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst.execute_command("CLUSTER", "MYID"))
    keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    if keys:
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
    finish_move(nodes, slot, source, target)


def finish_move(nodes, slot: int, source: int, target: int) -> None:
    """Give the slot to `target` on every master, then wait until every node says so."""
    owner = nodes.client(target).execute_command("CLUSTER", "MYID")
    for port in [target, source, *(p for p in nodes.master_ports() if p not in (source, target))]:
        nodes.client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", owner)
    deadline = time.monotonic() + 30
    while not all(slot_owner(nodes, port, slot) == target for port in nodes.live_ports()):
        assert time.monotonic() < deadline, f"slot {slot} not moved to {target} on every node"
        time.sleep(0.1)


def slot_owner(nodes, port: int, slot: int) -> int | None:
    for start, end, master, *_ in nodes.client(port).cluster("slots"):
        if start <= slot <= end:
            return int(master[1])
    return None
