"""One device, one account: the fingerprint rules on every storage backend, and races across threads."""
from __future__ import annotations

import threading

import pytest

from botrunner.miniapp.fingerprint import apply_rules, device_hash
from tests.storage.conftest import BACKENDS, make_store

TRAITS = {"screen_width": 390, "screen_height": 844, "color_depth": 24, "platform": "iPhone",
          "hardware_concurrency": 6, "timezone": "Europe/Berlin", "user_agent": "Mozilla/5.0", "language": "de",
          "canvas": "9f2c"}


@pytest.fixture(params=BACKENDS)
def repo(request, tmp_path):
    store = make_store(request.param, tmp_path)
    yield store.fingerprints
    store.close()


def test_device_hash_is_keyed_canonical_and_ignores_unknown_keys():
    h = device_hash(TRAITS, "salt-1")
    assert h == device_hash(dict(reversed(list(TRAITS.items()))) | {"extra": "x"}, "salt-1")
    assert h != device_hash(TRAITS, "salt-2") and h != device_hash({**TRAITS, "timezone": "UTC"}, "salt-1")
    assert "Berlin" not in h and len(h) == 64
    for bad in ({}, "not a dict", {"unknown": 1}):
        with pytest.raises(ValueError):
            device_hash(bad, "salt-1")


def test_a_second_account_on_a_device_is_refused_and_a_device_change_is_allowed(repo):
    first = apply_rules(repo, 1, "deviceA")
    again = apply_rules(repo, 1, "deviceA")
    other = apply_rules(repo, 2, "deviceA")
    assert first.allowed and first.new_device and again.allowed and not again.new_device
    assert not other.allowed and other.owner == 1
    moved = apply_rules(repo, 1, "deviceB")                  # the same account on a new phone
    assert moved.allowed and moved.new_device
    assert [f.fingerprint_hash for f in repo.for_user(1)] == ["deviceB"]
    assert apply_rules(repo, 3, "deviceA").allowed            # device A is free again: refused 2 got no row
    assert apply_rules(repo, 2, "deviceA").owner == 3


@pytest.mark.parametrize("lock_kind", ["thread", "redis"])
def test_two_accounts_verifying_at_once_agree_on_one_owner(tmp_path, redis_client, lock_kind):
    """Two accounts, one device, at the same moment (as on two workers): exactly one gets it."""
    for round_ in range(20):
        store = make_store("sqlite", tmp_path / f"r{round_}")
        verdicts: dict[int, object] = {}
        barrier = threading.Barrier(2)
        local = threading.Lock()

        def serialize(device: str, local=local):
            # the workers' lock (handlers.miniapp.device_lock), or an in-process one
            return redis_client.lock(f"test:device-lock:{device}", timeout=10, blocking_timeout=10) \
                if lock_kind == "redis" else local

        def verify(user, store=store, verdicts=verdicts, barrier=barrier):
            barrier.wait()
            verdicts[user] = apply_rules(store.fingerprints, user, "shared-device", serialize=serialize)
        threads = [threading.Thread(target=verify, args=(u,)) for u in (10, 11)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        store.close()
        assert sorted(v.allowed for v in verdicts.values()) == [False, True]
        assert verdicts[10].owner == verdicts[11].owner
