"""The poll lease and the intake script on the real Redis: exclusive, fenced, expiring; dedup and offset."""
from __future__ import annotations

import asyncio
import json

import pytest

from botrunner.errors import LeaseLost
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.store import Intake, prepare
from botrunner.redis_keys import Keys
from tests.aio import run
from tests.updates import message

KEYS = Keys.for_token("123:abc")


# --- poll lease ---

def test_poll_lease_is_exclusive_fenced_and_released(redis_url):
    async def scenario(client):
        a = PollLease(client, KEYS, "a", 2000)
        b = PollLease(client, KEYS, "b", 2000)
        assert await a.acquire() and a.held
        assert not await b.acquire()
        assert await a.renew()
        await a.release()
        assert not a.held
        assert await b.acquire()
        assert b.fence > a.fence                       # every acquisition has a larger fencing token
        await client.set(KEYS.poll_lease, "999:intruder")
        assert not await b.renew() and not b.held      # a renewal that finds another value stops it
        return True
    assert run(scenario, redis_url)


def test_poll_lease_expires_when_its_holder_dies(redis_url):
    async def scenario(client):
        dead = PollLease(client, KEYS, "dead", 1000)
        assert await dead.acquire()
        other = PollLease(client, KEYS, "other", 1000)
        assert not await other.acquire()
        await asyncio.sleep(1.2)
        return await other.acquire()
    assert run(scenario, redis_url)


# --- intake ---

def test_intake_stores_dedups_and_sets_offset(redis_url, redis_client):
    async def scenario(client):
        lease = PollLease(client, KEYS, "a", 5000)
        await lease.acquire()
        intake = Intake(client, KEYS)
        batch = prepare([message(1, 10, "a"), message(2, 11, "b"), message(3, 10, "c")], 4, 0)
        assert await intake.store(batch, lease.value) == 3
        again = prepare([message(3, 10, "c"), message(4, 10, "d")], 4, 4)
        assert await intake.store(again, lease.value) == 1       # 3 was seen already
        return await intake.offset()
    assert run(scenario, redis_url) == 5
    stored = [json.loads(f[b"update"])["update_id"] for n in range(4)
              for _, f in redis_client.xrange(KEYS.lane(n))]
    assert sorted(stored) == [1, 2, 3, 4]
    lane_of_10 = [n for n in range(4) if redis_client.xlen(KEYS.lane(n)) and
                  json.loads(redis_client.xrange(KEYS.lane(n))[0][1][b"update"])["message"]["chat"]["id"] == 10][0]
    assert [json.loads(f[b"update"])["update_id"] for _, f in redis_client.xrange(KEYS.lane(lane_of_10))] == [1, 3, 4]


def test_a_stale_lease_cannot_move_the_offset_and_its_updates_are_stored_once(redis_url, redis_client):
    """A stale poller's lane writes are harmless: the new holder fetches the same batch from the unmoved
    offset, and dedup keeps one copy of each update, in order."""
    async def scenario(client):
        old = PollLease(client, KEYS, "old", 5000)
        await old.acquire()
        stale_value = old.value
        await client.delete(KEYS.poll_lease)
        new = PollLease(client, KEYS, "new", 5000)
        await new.acquire()
        batch = [message(1, 1, "x"), message(2, 1, "y")]
        with pytest.raises(LeaseLost):
            await Intake(client, KEYS).store(prepare(batch[:1], 4, 0), stale_value)
        offset_after_stale = await Intake(client, KEYS).offset()
        added = await Intake(client, KEYS).store(prepare(batch, 4, 0), new.value or "")
        return offset_after_stale, added
    assert run(scenario, redis_url) == (0, 1)
    assert redis_client.get(KEYS.poll_offset) == b"3"
    stored = [json.loads(f[b"update"])["update_id"] for n in range(4) for _, f in redis_client.xrange(KEYS.lane(n))]
    assert stored == [1, 2]
