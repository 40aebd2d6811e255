"""How the admin API shows a user (the contract's field names, not the storage's)."""
from __future__ import annotations

import time
from typing import Any

from storage.records import User

DEVICE_TAKEN = "device-taken"        # handlers.miniapp_prompt's captcha_state of a device refusal


def summary(user: User) -> dict[str, Any]:
    """A row of the users list."""
    banned = user.is_banned()
    return {"id": user.id, "username": user.username, "first_name": user.first_name, "last_name": user.last_name,
            "points": user.points, "total_earned": user.total_earned, "referrals": user.referral_count,
            "verified": user.captcha_passed, "banned": banned, "banned_until": user.banned_until if banned else None,
            "blocked_bot": user.blocked_bot, "wallet": user.wallet_address, "language": user.language_code,
            "registered_at": user.registered_at, "last_active": user.last_active_at}


def flags(user: User, at: float | None = None) -> list[str]:
    """What an operator should notice about a user, in words."""
    checks = (("banned", user.is_banned(at or time.time())), ("blocked_bot", user.blocked_bot),
              ("unverified", not user.captcha_passed), ("device_taken", user.captcha_state == DEVICE_TAKEN),
              ("flagged", user.captcha_state == "flagged"), ("premium", user.is_premium),
              ("has_wallet", bool(user.wallet_address)))
    return [name for name, on in checks if on]


def detail(user: User) -> dict[str, Any]:
    """The profile of users/{id}."""
    return {**summary(user), "referral_code": user.referral_code, "referred_by": user.referred_by,
            "ban_reason": user.ban_reason if user.is_banned() else "", "captcha_state": user.captcha_state,
            "flags": flags(user)}
