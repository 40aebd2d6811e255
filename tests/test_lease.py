"""Shared lease rules: local validity ends at 80 % of the TTL after the request was sent; only the
holder's value releases a lease (the script run on a real Redis)."""
from __future__ import annotations

from botrunner.lease import RELEASE_IF_HELD, deadline, renew_interval_s


def test_deadline_is_measured_from_sending_with_a_margin_before_expiry():
    assert deadline(100.0, 10_000) == 108.0
    assert deadline(0.0, 1_000) < 1.0


def test_renewals_come_three_times_per_ttl():
    assert renew_interval_s(9_000) == 3.0


def test_release_deletes_only_the_holders_lease(redis_client):
    release = redis_client.register_script(RELEASE_IF_HELD)
    redis_client.set("lease", "7:worker-a", px=10_000)
    assert release(keys=["lease"], args=["6:worker-a"]) == 0       # an older fencing value: not ours any more
    assert redis_client.get("lease") == b"7:worker-a"
    assert release(keys=["lease"], args=["7:worker-a"]) == 1
    assert redis_client.get("lease") is None
    assert release(keys=["lease"], args=["7:worker-a"]) == 0       # already gone


def test_without_a_replica_a_lease_write_is_not_counted_and_the_next_ones_do_not_wait(redis_url):
    """The session Redis has no replica: WAIT 1 falls short. Once it has, the writes of the next
    timeout's length are not waited for (a keeper round over 64 lanes must not wait 64 times)."""
    import asyncio

    import redis.asyncio as aioredis

    from botrunner.lease import ReplicaWait

    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.config_resetstat()      # count only this test's WAITs
            wait = ReplicaWait(replicas=1, ttl_ms=2000)
            first = await wait.run(client, lambda c: c.set("lease:1", "me", px=2000))
            rest = [await wait.run(client, lambda c, n=n: c.set(f"lease:{n}", "me", px=2000)) for n in range(2, 10)]
            stats = await client.info("commandstats")
            return first, rest, stats.get("cmdstat_wait", {}).get("calls", 0), await client.get("lease:9")
        finally:
            await client.aclose()

    first, rest, waits, written = asyncio.run(scenario())
    assert first == (True, False) and all(r == (True, False) for r in rest)
    assert waits == 1 and written == b"me"          # written on the master, counted as unconfirmed


def test_with_no_replicas_asked_a_lease_write_counts_at_once(redis_url):
    import asyncio

    import redis.asyncio as aioredis

    from botrunner.lease import ReplicaWait

    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await ReplicaWait(0).run(client, lambda c: c.set("lease", "me", px=2000))
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == (True, True)


def test_an_unconfirmed_poll_lease_is_given_back_at_once(redis_url):
    """No replica confirmed the acquisition: not ours, and the key is deleted so the next try (any
    worker's) need not wait a TTL for it."""
    import asyncio

    import redis.asyncio as aioredis

    from botrunner.intake.poll_lease import PollLease
    from botrunner.redis_keys import Keys

    keys = Keys.for_token("4242:lease-test")

    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        try:
            lease = PollLease(client, keys, "w1", 2000, replicas=1)     # the session Redis has no replica
            return await lease.acquire(), lease.held, await client.get(keys.poll_lease)
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == (False, False, None)
