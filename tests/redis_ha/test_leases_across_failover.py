"""Leases across a Sentinel failover, on real servers: a lease counts only once a replica has it
(LEASE_WAIT_REPLICAS), so the master dying with the last lease write never lets two workers hold
one lease; a lease replicated before the failover stays its holder's and is re-validated on the
new master by the holder's next renewal (through the same, long-lived client)."""
from __future__ import annotations

import asyncio
import signal
import time

import pytest
import redis

from botrunner import redis_clients
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.store import Intake, prepare
from botrunner.lanes.leases import LaneLeases
from botrunner.redis_keys import Keys
from tests.redis_ha.conftest import sentinel_settings

TTL_MS = 2000
KEYS = Keys.for_token("4242:ha-leases")


def _client(ha, tmp_path):
    return redis_clients.async_client(sentinel_settings(ha, tmp_path), 0, timeout=1, pool_size=8)


async def _reachable(call, timeout: float = 30.0):
    """`call()`'s result, retried while the failover makes it fail with connection errors."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except (redis.ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def test_with_a_healthy_replica_leases_are_taken_and_renewed(sentinels, tmp_path):
    async def scenario():
        client = _client(sentinels, tmp_path)
        try:
            poll = PollLease(client, KEYS, "w1", TTL_MS, replicas=1)
            lanes = LaneLeases(client, KEYS, "w1", 4, TTL_MS, replicas=1)
            assert await poll.acquire() and poll.held
            assert await lanes.acquire(2) and lanes.is_valid(2)
            assert await poll.renew() and await lanes.renew() == []
            await poll.release()
            await lanes.release(2)
        finally:
            await client.aclose()
    asyncio.run(scenario())


def test_a_lease_write_no_replica_confirmed_is_not_counted(fresh_sentinels, tmp_path):
    """Replication stalled: the lease is written on the master but not counted; its local deadline
    runs out instead of being extended, while without the wait the same renewal extends it."""
    ha = fresh_sentinels
    replica = ha.servers[1]

    async def scenario():
        client = _client(ha, tmp_path)
        try:
            waiting = PollLease(client, KEYS, "w1", TTL_MS, replicas=1)
            lanes = LaneLeases(client, KEYS, "w1", 4, TTL_MS, replicas=1)
            assert await waiting.acquire() and await lanes.acquire(1)
            before, lane_before = waiting.remaining_s, lanes.valid_until[1]
            replica.signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(0.3)
                assert await waiting.renew()                  # still ours on the master ...
                assert waiting.remaining_s < before           # ... but the deadline did not move
                assert await lanes.renew() == [] and lanes.valid_until[1] == lane_before
                assert not await lanes.acquire(3)             # a new lease is not taken unconfirmed
                await asyncio.sleep(TTL_MS * 0.8 / 1000)
                assert not waiting.held and not lanes.is_valid(1)
            finally:
                replica.signal(signal.SIGCONT)
            assert await lanes.acquire(3) and lanes.is_valid(3)   # replication back: confirmed again
        finally:
            await client.aclose()
    asyncio.run(scenario())


def test_a_lease_write_lost_with_the_old_master_never_makes_two_owners(fresh_sentinels, tmp_path):
    """The acquisition reaches the master but not the replica, then the master dies: the new master
    has no lease, so another worker may take it; the first worker never counted it as held (and gave
    the unconfirmed key back at once, so a retry need not wait for its TTL)."""
    ha = fresh_sentinels
    replica = ha.servers[1]
    old = ha.master_address()

    async def scenario():
        client = _client(ha, tmp_path)
        try:
            first = PollLease(client, KEYS, "w1", TTL_MS, replicas=1)
            await client.ping()
            replica.signal(signal.SIGSTOP)                     # it will not read what the master sends now
            try:
                ha.server_client(ha.master).client_kill_filter(_type="slave")
                taken = await first.acquire()
                master_took = ha.server_client(ha.master).get(KEYS.poll_fence)     # the acquisition's writes
                ha.kill_master()
            finally:
                replica.signal(signal.SIGCONT)
            assert master_took == b"1"
            assert not taken and not first.held               # never counted: WAIT saw no replica
            new = await asyncio.get_running_loop().run_in_executor(None, ha.wait_failover, old)
            on_new = ha.server_client(ha.current_master())
            assert on_new.get(KEYS.poll_fence) is None, "the writes were not lost: the scenario proves nothing"
            assert on_new.get(KEYS.poll_lease) is None
            second = PollLease(client, KEYS, "w2", TTL_MS, replicas=0)   # the new master has no replica yet
            assert await _reachable(second.acquire) and second.held
            assert not first.held
            return new
        finally:
            await client.aclose()
    asyncio.run(scenario())


@pytest.mark.timeout(240)
def test_a_lease_replicated_before_the_failover_stays_its_holders(fresh_sentinels, tmp_path):
    """The holder's lease survives on the promoted replica: nobody else can take it, the holder's
    renewal through its old client reaches the new master, and intake fenced by it still works."""
    ha = fresh_sentinels
    old = ha.master_address()

    async def scenario():
        client = _client(ha, tmp_path)
        try:
            holder = PollLease(client, KEYS, "w1", 30_000, replicas=1)
            lanes = LaneLeases(client, KEYS, "w1", 4, 30_000, replicas=1)
            assert await holder.acquire() and await lanes.acquire(0)
            killed = ha.kill_master()
            await asyncio.get_running_loop().run_in_executor(None, ha.wait_failover, old)
            other = PollLease(client, KEYS, "w2", 30_000, replicas=0)
            other_lanes = LaneLeases(client, KEYS, "w2", 4, 30_000, replicas=0)
            assert not await _reachable(other.acquire)
            assert not await other_lanes.acquire(0)
            ha.restart(killed)                                 # as systemd would; Sentinel makes it a replica
            # a Sentinel converts it once it has been up 8 s (4 hello periods), then it syncs: ~10 s here;
            # 90 s leaves room for one TILT period (30 s) of a Sentinel that stalled on a loaded machine
            await asyncio.get_running_loop().run_in_executor(
                None, ha.wait_until, lambda: ha._synced(killed), 90, "the old master as a replica")
            remaining = holder.remaining_s
            assert await _reachable(holder.renew) and holder.remaining_s > remaining
            assert await lanes.renew() == [] and lanes.is_valid(0)
            intake = Intake(client, KEYS, wait_replicas=1)
            batch = prepare([{"update_id": 7, "message": {"chat": {"id": 1}}}], 4, 0)
            assert await intake.store(batch, holder.value or "") == 1
        finally:
            await client.aclose()
    asyncio.run(scenario())

