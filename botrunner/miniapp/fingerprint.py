"""Device fingerprints: one device, one account.

Invariant: only an HMAC of the device's traits (keyed with FINGERPRINT_SALT) is stored, never the
traits. The rules run where the user's updates run (the user's lane). Two accounts of one device
have different lanes, possibly on two workers or hosts, so the check-then-record of one device is
serialized by a lock on the device (a Redis lock in the workers): whoever takes it first holds the
device, the other sees that holder and is refused. Wall clocks play no part in who wins, so clock
skew between hosts cannot let both in.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

TRAITS = ("screen_width", "screen_height", "color_depth", "pixel_ratio", "platform", "hardware_concurrency",
          "timezone", "user_agent", "language", "canvas")
MAX_TRAIT_CHARS = 512


def device_hash(traits: Any, salt: str) -> str:
    """HMAC-SHA256(salt, canonical JSON of the known traits); unknown keys are ignored, values capped."""
    if not isinstance(traits, dict):
        raise ValueError("fingerprint must be an object")
    known = {k: str(traits.get(k, ""))[:MAX_TRAIT_CHARS] for k in TRAITS}
    if not any(known.values()):
        raise ValueError("fingerprint is empty")
    canonical = json.dumps(known, sort_keys=True, separators=(",", ":"))
    return hmac.new(salt.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def ip_hash(ip: str, salt: str) -> str:
    return hmac.new(salt.encode(), f"ip:{ip}".encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Verdict:
    """allowed: this account may use this device; owner: the account that holds it (itself when allowed)."""

    allowed: bool
    owner: int
    new_device: bool


def apply_rules(repo: Any, user_id: int, fingerprint: str, ip: str = "", ttl_s: int = 90 * 86400,
                replace: bool = True, serialize: Callable[[str], AbstractContextManager[Any]] | None = None) -> Verdict:
    """Within `serialize(fingerprint)` (workers pass a Redis lock on the device): a device another
    live account holds refuses this one (nothing is recorded for it); otherwise (device, user) is
    recorded and, when `replace`, the account's other devices are forgotten (device change allowed).
    Without `serialize`, two accounts verifying one device at the same moment may both pass."""
    with serialize(fingerprint) if serialize is not None else nullcontext():
        previous = {f.fingerprint_hash for f in repo.for_user(user_id)}
        others = [h for h in repo.holders(fingerprint) if h.user_id != user_id]
        if others:
            return Verdict(False, others[0].user_id, fingerprint not in previous)
        repo.record(user_id, fingerprint, ip, ttl_s=ttl_s)
        if replace and previous - {fingerprint}:
            repo.forget(user_id, keep=fingerprint)
        return Verdict(True, user_id, fingerprint not in previous)
