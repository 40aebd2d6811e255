"""Device fingerprints: one device, one account.

Invariant: only an HMAC of the device's traits (keyed with FINGERPRINT_SALT) is stored, never the
traits. The rules run where the user's updates run (the user's lane), and are race-free across
workers: a verification first records its own (device, user) pair, then reads every live holder
of that device; the earliest holder owns it, so two accounts verifying on one device at the same
moment on two workers both see both rows and agree on the same owner.
"""
from __future__ import annotations

import hashlib
import hmac
import json
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
                replace: bool = True) -> Verdict:
    """Record (device, user), then decide by the earliest live holder. A user on a new device keeps
    only the new one when `replace` (device change allowed), else keeps both; a device another
    account holds refuses this one."""
    previous = {f.fingerprint_hash for f in repo.for_user(user_id)}
    repo.record(user_id, fingerprint, ip, ttl_s=ttl_s)
    holders = repo.holders(fingerprint)
    owner = holders[0].user_id if holders else user_id
    if owner != user_id:
        return Verdict(False, owner, fingerprint not in previous)
    if replace and previous - {fingerprint}:
        repo.forget(user_id, keep=fingerprint)
    return Verdict(True, user_id, fingerprint not in previous)
