"""Test helpers: look up an update's seen / done markers without knowing its lane.

The markers live in the slot of the update's lane (botrunner.redis_keys); a test that only knows
the update_id asks every lane."""
from __future__ import annotations

from botrunner.redis_keys import Keys


def is_done(client, keys: Keys, update_id: int, lanes: int = 64) -> bool:
    field = keys.bucket_field(update_id)
    return any(client.hexists(keys.done(n, update_id), field) for n in range(lanes))


def is_seen(client, keys: Keys, update_id: int, lanes: int = 64) -> bool:
    field = keys.bucket_field(update_id)
    return any(client.hexists(keys.seen(n, update_id), field) for n in range(lanes))


def seen_ttl(client, keys: Keys, update_id: int, lanes: int = 64) -> int:
    """TTL of the seen bucket holding update_id (-2 when none does)."""
    field = keys.bucket_field(update_id)
    for n in range(lanes):
        if client.hexists(keys.seen(n, update_id), field):
            return int(client.ttl(keys.seen(n, update_id)))
    return -2
