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
