"""Lane leases on the real Redis: exclusive, renewed in one script, pending entries claimed in order, trimmed."""
from __future__ import annotations

import asyncio

from botrunner.lanes.leases import LaneLeases
from botrunner.redis_keys import GROUP, Keys
from tests.aio import run

KEYS = Keys.for_token("123:abc")


# --- lanes ---

def test_lane_lease_exclusive_and_claims_pending_in_order(redis_url, redis_client):
    async def scenario(client):
        old = LaneLeases(client, KEYS, "old", 2, 1000)
        await old.ensure_groups()
        for i in range(5):
            await client.xadd(KEYS.lane(0), {"update_id": i, "update": "{}"})
        assert await old.acquire(0)
        await client.xreadgroup(GROUP, "old", {KEYS.lane(0): ">"}, count=3)   # old read 3, then died
        new = LaneLeases(client, KEYS, "new", 2, 1000)
        assert not await new.acquire(0)
        await asyncio.sleep(1.1)
        assert await new.acquire(0)
        claimed = await new.claim_pending(0)
        rest = await client.xreadgroup(GROUP, "new", {KEYS.lane(0): ">"})
        return [int(f[b"update_id"]) for _, f in claimed], [int(f[b"update_id"]) for _, f in rest[0][1]]
    claimed, rest = run(scenario, redis_url)
    assert claimed == [0, 1, 2] and rest == [3, 4]
    consumers = [c["name"] for c in redis_client.xinfo_consumers(KEYS.lane(0), GROUP)]
    assert consumers == [b"new"]                 # the dead owner's consumer was forgotten


def test_lane_renewal_reports_lost_lanes(redis_url):
    async def scenario(client):
        leases = LaneLeases(client, KEYS, "w", 3, 5000)
        for n in range(3):
            assert await leases.acquire(n)
        await client.set(KEYS.lane_owner(1), "thief")
        lost = await leases.renew()
        return lost, leases.held, leases.is_valid(0), leases.is_valid(1)
    assert run(scenario, redis_url) == ([1], [0, 2], True, False)


def test_trim_drops_only_acknowledged_entries(redis_url, redis_client):
    async def scenario(client):
        leases = LaneLeases(client, KEYS, "w", 1, 5000)
        await leases.ensure_groups()
        ids = [await client.xadd(KEYS.lane(0), {"update_id": i, "update": "{}"}) for i in range(4)]
        await client.xreadgroup(GROUP, "w", {KEYS.lane(0): ">"}, count=3)
        await client.xack(KEYS.lane(0), GROUP, ids[0], ids[2])     # 1 is still pending, 3 undelivered
        await leases.trim(0)
        return [i for i, _ in await client.xrange(KEYS.lane(0))], ids
    left, ids = run(scenario, redis_url)
    assert left == ids[1:]
