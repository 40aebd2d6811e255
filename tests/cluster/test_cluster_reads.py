"""The lane reader on a real Redis Cluster (botrunner.lanes.cluster_reads): a backlog over lanes of every
master is read in pipelined rounds (one round trip per node, not one read per lane), each lane's entries
in stream order; idle lanes wait in a blocking read and an entry added later is read at once."""
from __future__ import annotations

import asyncio
import json

from redis.crc import key_slot

from botrunner.lanes.chat_order import ChatQueues, Job
from botrunner.lanes.cluster_reads import ClusterReads
from botrunner.lanes.leases import LaneLeases
from botrunner.lanes.membership import Registry
from botrunner.lanes.reader import LaneReader
from botrunner.redis_keys import Keys
from botrunner.redis_scripts import ScriptedCluster

KEYS = Keys.for_token("4242:reads")
LANES = 24
PER_LANE = 5


def update(lane: int, n: int) -> dict:
    return {"update_id": lane * 100 + n, "update": json.dumps({"message": {"chat": {"id": lane * 1000 + n % 2}}})}


def test_a_backlog_on_every_master_is_read_in_rounds_in_order_then_idle_lanes_block(redis_cluster):
    assert len({redis_cluster.master_of_slot(key_slot(KEYS.lane(n).encode())) for n in range(LANES)}) == 3
    seen: dict[int, list[int]] = {}
    handled = asyncio.Event()

    async def record(job: Job) -> None:
        seen.setdefault(job.lane, []).append(int(job.fields[b"update_id"]))
        if sum(map(len, seen.values())) == LANES * PER_LANE + 1:
            handled.set()

    async def scenario() -> tuple[int, int, int]:
        client = ScriptedCluster.from_url(redis_cluster.url)
        leases = LaneLeases(client, KEYS, "w1", LANES, 5000)
        reader = LaneReader(client, leases, Registry(client, KEYS, "w1", 5000), ChatQueues(record, capacity=1000),
                            lambda: False)
        try:
            await leases.ensure_groups()
            for lane in range(LANES):
                assert await leases.acquire(lane)
                for n in range(PER_LANE):
                    await client.xadd(KEYS.lane(lane), update(lane, n))
            reader.reading.update(range(LANES))
            reads = ClusterReads(reader)
            task = asyncio.create_task(reads.run())
            while sum(map(len, seen.values())) < LANES * PER_LANE:
                await asyncio.sleep(0.01)
            await asyncio.sleep(1.2)                       # every lane now waits in blocking reads
            backlog_rounds, parked = reads.rounds, len(reader.in_read)
            await client.xadd(KEYS.lane(7), {"update_id": 9999, "update": "{}"})
            await asyncio.wait_for(handled.wait(), 10)
            reader.stop()
            await asyncio.wait_for(task, 10)
            return backlog_rounds, parked, len(reader.in_read)
        finally:
            await client.aclose()
    backlog_rounds, parked, left_in_read = asyncio.run(scenario())
    # 120 entries of 24 lanes on 3 masters: one pipelined round read them, the next found them empty and
    # parked them; the parked lanes' empty BLOCKs (500 ms) are read again without further rounds
    assert backlog_rounds == 2
    assert parked == LANES and left_in_read == 0
    for lane in range(LANES):          # every entry once; each chat's (2 per lane) in stream order
        expected = [lane * 100 + n for n in range(PER_LANE)] + ([9999] if lane == 7 else [])
        assert sorted(seen[lane]) == expected
        for parity in (0, 1):
            ids = [i for i in seen[lane] if i != 9999 and i % 2 == parity]
            assert ids == sorted(ids)


def test_a_round_with_room_for_fewer_entries_than_lanes_reads_one_entry_of_each_in_turn(redis_cluster):
    seen: list[tuple[int, int]] = []

    async def record(job: Job) -> None:
        seen.append((job.lane, int(job.fields[b"update_id"])))

    async def scenario() -> list[int]:
        client = ScriptedCluster.from_url(redis_cluster.url)
        leases = LaneLeases(client, KEYS, "w1", LANES, 5000)
        queues = ChatQueues(record, capacity=6)
        reader = LaneReader(client, leases, Registry(client, KEYS, "w1", 5000), queues, lambda: False)
        try:
            await leases.ensure_groups()
            for lane in range(LANES):
                for n in range(2):
                    await client.xadd(KEYS.lane(lane), update(lane, n))
            reader.reading.update(range(LANES))
            reads = ClusterReads(reader)
            assert await reads.round(list(range(LANES)))
            return sorted(job.lane for chat in queues.queues.values() for job in chat)
        finally:
            await client.aclose()
    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4, 5]      # COUNT 1 from 6 lanes: never past the room
