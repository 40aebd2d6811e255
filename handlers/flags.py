"""The registration flags the airdrop bot's middlewares read (`router.command(..., flags=OPEN)`).

Every feature registration is gated (private chats, signed buttons, bans, limits, registration,
captcha) unless it says `UNGATED`; updates that match no registration are never gated.
"""
from __future__ import annotations

from typing import Any

from botrunner.bot.context import Context

OPEN: dict[str, Any] = {"open": True}             # before registration and the captcha (/start, /help)
ADMIN: dict[str, Any] = {"admin": True}           # ADMIN_USER_IDS only, whatever the arguments
SENSITIVE: dict[str, Any] = {"sensitive": True}   # also counts against RATE_LIMIT_SENSITIVE_PER_HOUR
UNGATED: dict[str, Any] = {"gate": False}         # membership changes, stale buttons


def gated(ctx: Context) -> bool:
    """Whether the gate's middlewares apply to this update."""
    return ctx.matched and ctx.flags.get("gate", True)
