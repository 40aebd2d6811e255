"""The one-time move to the hash-tagged key layout: state carried over, nothing clobbered, old pollers refused."""
from __future__ import annotations

import pytest

from botrunner.errors import UnsafePipeline
from botrunner.redis_keys import GROUP, Keys
from botrunner.supervisor.key_migration import migrate_layout

KEYS = Keys.for_token("777:migrate")
OLD = KEYS.prefix


def test_old_layout_state_is_renamed_with_groups_and_pending_entries(redis_client):
    redis_client.set(OLD + "poll:offset", 1234)
    redis_client.set(OLD + "poll:fence", 9)
    redis_client.xadd(OLD + "lane:3", {"update_id": 1233, "update": "{}"})
    redis_client.xgroup_create(OLD + "lane:3", GROUP, id="0")
    redis_client.xreadgroup(GROUP, "old-worker", {OLD + "lane:3": ">"})     # pending under a stopped worker
    redis_client.hset(OLD + "lane:3:attempts", "1-0", 2)
    redis_client.xadd(OLD + "dead", {"update_id": 5})
    redis_client.hset(OLD + "faults", "data_loss", 1)
    redis_client.sadd(OLD + "send:blocked", "42")
    redis_client.set(OLD + "lane:3:owner", "old-worker")                   # a lease: not carried
    redis_client.set(KEYS.dead_count, 7)                                     # already in the new layout
    redis_client.set(OLD + "dead:count", 1)
    assert migrate_layout(redis_client, KEYS) == 7
    assert redis_client.get(KEYS.poll_offset) == b"1234" and redis_client.get(KEYS.poll_fence) == b"9"
    assert redis_client.xpending(KEYS.lane(3), GROUP)["pending"] == 1
    assert redis_client.hget(KEYS.attempts(3), "1-0") == b"2"
    assert redis_client.xlen(KEYS.dead) == 1 and redis_client.hget(KEYS.faults, "data_loss") == b"1"
    assert redis_client.sismember(KEYS.send_blocked, "42")
    assert redis_client.get(KEYS.dead_count) == b"7" and redis_client.get(OLD + "dead:count") == b"1"   # not clobbered
    assert not redis_client.exists(KEYS.lane_owner(3))
    assert migrate_layout(redis_client, KEYS) == 0                          # once only


def test_start_is_refused_while_an_old_release_polls(redis_client):
    redis_client.set(OLD + "poll:lease", "3:old-host:123:abc", px=10_000)
    with pytest.raises(UnsafePipeline, match="older botrunner release"):
        migrate_layout(redis_client, KEYS)
