"""What every lease in botrunner shares (the poll lease, the lane leases): release and local validity.

A lease is a Redis key holding its owner's value with a PX TTL. It is released only by its owner
(`RELEASE_IF_HELD`). Locally it counts as ours until `deadline(sent, ttl_ms)`: measured from when
the acquiring or renewing request was *sent* (pessimistic), and only for 80 % of the TTL, a margin
for clock drift between this host and Redis. Work that must run under the lease starts only before it.
"""
from __future__ import annotations

VALID_SHARE = 0.8     # of the TTL: past this, a lease we may still hold is treated as lost

# KEYS: the lease.  ARGV: our value.  Delete it only if we still hold it.
RELEASE_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def renew_interval_s(ttl_ms: int) -> float:
    """How often a holder renews: every TTL/3, so two renewals can fail before the key expires."""
    return ttl_ms / 3000.0


def deadline(sent: float, ttl_ms: int) -> float:
    """The monotonic time until which a lease acquired or renewed by a request sent at `sent` is ours."""
    return sent + ttl_ms * VALID_SHARE / 1000.0
