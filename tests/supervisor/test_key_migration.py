"""The one-time moves at start: to the hash-tagged key layout (state carried over, nothing clobbered,
old pollers refused) and from the two old conversation stores to one record per conversation."""
from __future__ import annotations

import dataclasses
import json

import pytest
import redis
from loguru import logger

from botrunner.bot.states import Conversation, RedisStates, fernet_for, states_from_settings
from botrunner.errors import UnsafePipeline
from botrunner.redis_keys import GROUP, Keys
from botrunner.supervisor import key_migration
from botrunner.supervisor.key_migration import CONVERTED, convert_conversations, migrate_conversations, migrate_layout

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


def old_conversation(client, chat: int, user: int, step: str | None, data: bytes | None, ttl_s: int = 3600,
                     prefix: str = OLD) -> None:
    """A conversation as the two stores before the one conversation store kept it."""
    if step is not None:
        client.set(f"{prefix}state:{chat}:{user}", step, ex=ttl_s)
    if data is not None:
        client.set(f"{prefix}session:{user}:{chat}", data, ex=ttl_s)


def test_old_conversations_become_records_with_their_ttl(redis_client):
    old_conversation(redis_client, 10, 3, "tr_amount", json.dumps({"transfer_to": 4}).encode(), ttl_s=600)
    old_conversation(redis_client, 11, 3, "wallet", None)                     # a step without data
    old_conversation(redis_client, 12, 5, None, b'{"captcha": {"code": "AB"}}')   # data without a step
    old_conversation(redis_client, -100, 7, "poll", None, ttl_s=30 * 86400)   # longer than SESSION_TTL_S
    old_conversation(redis_client, 13, 8, None, b"{}")                         # nothing left: no record
    redis_client.set(OLD + "admin:session:abc", "{}")                          # not a conversation
    states = RedisStates(redis_client, OLD, ttl_s=86400)
    assert migrate_conversations(states) == 4
    assert states.get(10, 3) == Conversation("tr_amount", {"transfer_to": 4})
    assert states.get(11, 3) == Conversation("wallet")
    assert states.get(12, 5) == Conversation(None, {"captcha": {"code": "AB"}})
    assert states.get(-100, 7) == Conversation("poll")
    assert 500 < states.ttl(10, 3) <= 600 and 86000 < states.ttl(-100, 7) <= 86400
    assert sorted(redis_client.keys(OLD + "*")) == sorted(
        [states.key(10, 3).encode(), states.key(11, 3).encode(), states.key(12, 5).encode(),
         states.key(-100, 7).encode(), (OLD + "admin:session:abc").encode(), (OLD + CONVERTED).encode()])


def test_encrypted_old_data_becomes_an_encrypted_record(redis_client, settings):
    settings = dataclasses.replace(settings, session_encryption_key="correct horse battery staple")
    old_conversation(redis_client, 5, 5, "wallet", fernet_for(settings.session_encryption_key).encrypt(
        b'{"wallet": "0xSECRET"}'))
    states = states_from_settings(settings, redis_client, OLD)
    assert migrate_conversations(states) == 1
    raw = redis_client.get(states.key(5, 5))
    assert b"0xSECRET" not in raw and b"wallet" not in raw
    assert states.get(5, 5) == Conversation("wallet", {"wallet": "0xSECRET"})


def test_conversion_is_once_and_never_over_a_newer_record(redis_client):
    states = RedisStates(redis_client, OLD)
    old_conversation(redis_client, 1, 1, "old step", None)
    states.put(1, 1, Conversation("new step"))          # a worker of this release wrote it since
    old_conversation(redis_client, 2, 2, "step", None)
    assert migrate_conversations(states) == 1           # a run cut short before its deletes is finished
    assert states.get(1, 1) == Conversation("new step") and states.get(2, 2) == Conversation("step")
    assert not redis_client.exists(f"{OLD}state:1:1", f"{OLD}state:2:2")
    redis_client.config_resetstat()
    assert migrate_conversations(states) == 0           # the marker: no second scan
    assert "cmdstat_scan" not in redis_client.info("commandstats")


def test_conversion_runs_in_batches_with_progress(redis_client, monkeypatch):
    monkeypatch.setattr(key_migration, "BATCH", 7)
    monkeypatch.setattr(key_migration, "PROGRESS_EVERY", 10)
    for n in range(25):
        old_conversation(redis_client, n, n, "step", b'{"n": %d}' % n)
    redis_client.set(f"{OLD}conv:99:99", b"{}")       # a record of this release: looked at, left alone
    states = RedisStates(redis_client, OLD)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    try:
        assert migrate_conversations(states) == 25
    finally:
        logger.remove(sink)
    assert [states.get(n, n) for n in range(25)] == [Conversation("step", {"n": n}) for n in range(25)]
    # 51 keys in batches of 7: a line each time the count looked at passes a multiple of 10
    progress = [line for line in lines if "looked at" in line]
    assert len(progress) == 5 and progress[0].startswith("Conversations: 14 key(s) looked at")
    assert redis_client.keys(OLD + "s*") == []


def test_the_supervisor_converts_on_the_session_database_with_the_workers_prefix(redis_url, settings):
    sessions = redis.Redis.from_url(redis_url, db=settings.redis_session_db)
    keys = Keys.for_token(settings.bot_token)
    old_conversation(sessions, 4, 4, "captcha", b'{"captcha": {"code": "XY"}}', prefix=keys.prefix)
    assert convert_conversations(settings, keys) == 1
    assert RedisStates(sessions, keys.prefix).get(4, 4) == Conversation("captcha", {"captcha": {"code": "XY"}})
    sessions.close()
