"""Sessions in the real Redis: TTL, clear and encrypted storage."""
from __future__ import annotations

from cryptography.fernet import Fernet

from storage.sessions import ConversationStates, SessionStore


def test_roundtrip_ttl_and_delete(redis_client):
    sessions = SessionStore(redis_client, ttl_s=600)
    assert sessions.get(1, 2) == {}
    sessions.set(1, 2, {"step": "transfer_amount", "to": 7})
    assert sessions.get(1, 2) == {"step": "transfer_amount", "to": 7}
    assert 0 < sessions.ttl(1, 2) <= 600
    assert b"transfer_amount" in redis_client.get("session:1:2")      # no key: stored in clear
    sessions.delete(1, 2)
    assert sessions.get(1, 2) == {} and sessions.ttl(1, 2) == -2


def test_encrypted_at_rest_with_a_passphrase(redis_client):
    sessions = SessionStore(redis_client, ttl_s=600, encryption_key="correct horse battery staple")
    sessions.set(1, 2, {"wallet": "0xSECRET"})
    raw = redis_client.get("session:1:2")
    assert b"0xSECRET" not in raw and b"wallet" not in raw
    assert sessions.get(1, 2) == {"wallet": "0xSECRET"}
    assert SessionStore(redis_client, encryption_key="another key").get(1, 2) == {}   # wrong key: empty


def test_fernet_key_and_tampering(redis_client):
    key = Fernet.generate_key().decode()
    sessions = SessionStore(redis_client, encryption_key=key)
    sessions.set(5, 5, {"a": 1})
    assert Fernet(key.encode()).decrypt(redis_client.get("session:5:5")) == b'{"a":1}'
    redis_client.set("session:5:5", b"gAAAAtampered")
    assert sessions.get(5, 5) == {}


def test_conversation_states_adapter_keeps_the_rest_of_the_session(redis_client):
    sessions = SessionStore(redis_client, encryption_key="k")
    states = ConversationStates(sessions)
    assert states.get(10, 1) is None
    sessions.set(1, 10, {"amount": 5})
    states.set(10, 1, "transfer_confirm")
    assert states.get(10, 1) == "transfer_confirm" and sessions.get(1, 10) == {"amount": 5, "step": "transfer_confirm"}
    states.clear(10, 1)
    assert sessions.get(1, 10) == {"amount": 5}
    sessions.delete(1, 10)
    states.set(10, 1, "x")
    states.clear(10, 1)
    assert sessions.ttl(1, 10) == -2


def test_bots_sharing_one_redis_keep_their_own_sessions(redis_client):
    bot_a = SessionStore(redis_client, prefix="botrunner:111:")
    bot_b = SessionStore(redis_client, prefix="botrunner:222:")
    bot_a.set(1, 1, {"step": "wallet"})
    assert bot_b.get(1, 1) == {} and bot_a.get(1, 1) == {"step": "wallet"}
    assert redis_client.exists("botrunner:111:session:1:1") and not redis_client.exists("session:1:1")
