"""The one conversation store in the real Redis: state and data under one key, TTL, encryption, one
command per read and per write, and the memory store with the same behaviour."""
from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.fernet import Fernet

from botrunner.bot.states import Conversation, MemoryStates, RedisStates, states_from_settings


def test_state_and_data_live_under_one_key_with_the_ttl(redis_client):
    states = RedisStates(redis_client, "botrunner:1:", ttl_s=600)
    assert states.get(5, 7) == Conversation()
    states.put(5, 7, Conversation("transfer_amount", {"to": 9}))
    assert states.get(5, 7) == Conversation("transfer_amount", {"to": 9})
    assert redis_client.keys("*") == [b"botrunner:1:conv:5:7"]
    assert json.loads(redis_client.get("botrunner:1:conv:5:7")) == {"state": "transfer_amount", "data": {"to": 9}}
    assert 0 < states.ttl(5, 7) <= 600
    states.put(5, 7, Conversation(None, {"to": 9}))                 # the step ends, the data stays
    assert states.get(5, 7) == Conversation(None, {"to": 9})
    states.put(5, 7, Conversation())                                # nothing left: the key goes
    assert states.ttl(5, 7) == -2 and redis_client.keys("*") == []


def test_ttl_and_key_come_from_settings(redis_client, settings):
    settings = dataclasses.replace(settings, session_ttl_s=120, session_encryption_key="correct horse battery staple")
    states = states_from_settings(settings, redis_client, "p:")
    states.put(1, 1, Conversation("wallet", {"wallet": "0xSECRET"}))
    raw = redis_client.get("p:conv:1:1")
    assert b"0xSECRET" not in raw and b"wallet" not in raw
    assert 0 < states.ttl(1, 1) <= 120
    assert states.get(1, 1) == Conversation("wallet", {"wallet": "0xSECRET"})
    assert RedisStates(redis_client, "p:", encryption_key="another key").get(1, 1) == Conversation()


def test_fernet_key_and_tampering(redis_client):
    key = Fernet.generate_key().decode()
    states = RedisStates(redis_client, encryption_key=key)
    states.put(5, 5, Conversation("s", {"a": 1}))
    assert json.loads(Fernet(key.encode()).decrypt(redis_client.get("conv:5:5"))) == {"state": "s", "data": {"a": 1}}
    redis_client.set("conv:5:5", b"gAAAAtampered")
    assert states.get(5, 5) == Conversation()


def test_a_read_and_a_write_are_one_command_each_and_touch_only_the_record(redis_client):
    """The old two-key stores' keys are converted at start (tests/supervisor/test_key_migration.py):
    the store no longer reads or deletes them (a new chat's /start: 1 GET + 1 SET, was 3 GET + 2 DEL + 1 SET)."""
    redis_client.set("botrunner:1:state:10:3", "left over")
    states = RedisStates(redis_client, "botrunner:1:")
    redis_client.config_resetstat()
    assert states.get(10, 3) == Conversation()
    states.put(10, 3, Conversation("captcha", {"captcha": {"code": "AB"}}))
    assert states.get(10, 3) == Conversation("captcha", {"captcha": {"code": "AB"}})
    states.put(10, 3, Conversation())
    calls = {name[len("cmdstat_"):]: stat["calls"] for name, stat in redis_client.info("commandstats").items()}
    assert calls == {"get": 2, "set": 1, "del": 1, "config": 1}
    assert redis_client.get("botrunner:1:state:10:3") == b"left over"


def test_bots_sharing_one_redis_keep_their_own_conversations(redis_client):
    bot_a, bot_b = RedisStates(redis_client, "botrunner:111:"), RedisStates(redis_client, "botrunner:222:")
    bot_a.put(1, 1, Conversation("wallet"))
    assert bot_b.get(1, 1) == Conversation() and bot_a.get(1, 1).state == "wallet"


@pytest.mark.parametrize("make", [MemoryStates, lambda: None], ids=["memory", "redis"])
def test_memory_and_redis_stores_agree(make, redis_client):
    states = make() or RedisStates(redis_client)
    record = Conversation("s", {"n": 1})
    states.put(2, 3, record)
    record.data["n"] = 2                                   # the caller's object is not the stored one
    got = states.get(2, 3)
    assert got == Conversation("s", {"n": 1})
    got.data["n"] = 3
    assert states.get(2, 3) == Conversation("s", {"n": 1})
    states.put(2, 3, Conversation())
    assert states.get(2, 3) == Conversation()
