"""Telegram Mini App initData, validated exactly as https://core.telegram.org/bots/webapps says.

Invariant: nothing from initData is trusted until its signature checks out, and the user id
comes from the signed `user` field only (never from the request). Two checks:
- first-party: hash = hex HMAC_SHA256(data_check_string, key=HMAC_SHA256(bot_token, key="WebAppData")),
  data_check_string = every received field but `hash`, sorted, `key=value` joined by newlines;
- third-party (no token needed): the Ed25519 `signature` over "<bot_id>:WEBAPPDATA\\n" + the
  fields but `hash` and `signature`, against Telegram's published public key.
Either way `auth_date` must be recent (max_age_s) and not in the future (small clock skew allowed).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# Telegram's Ed25519 keys for third-party validation (core.telegram.org/bots/webapps)
TELEGRAM_PUBLIC_KEYS = {
    "production": "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d",
    "test": "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec",
}
MAX_INIT_DATA_BYTES = 8192
FUTURE_SKEW_S = 60


class InitDataError(ValueError):
    """initData refused; the message is a short reason safe to show the client."""


@dataclass(frozen=True)
class InitData:
    """Validated initData: the signed user and the fields Telegram sent."""

    user_id: int
    user: dict[str, Any]
    auth_date: int
    fields: dict[str, str]


def parse_fields(raw: str) -> dict[str, str]:
    """The query string as a dict; repeated or empty keys are refused (a signed string has neither)."""
    if not raw or len(raw) > MAX_INIT_DATA_BYTES:
        raise InitDataError("initData missing or too long")
    pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False)
    fields = dict(pairs)
    if len(fields) != len(pairs) or "" in fields:
        raise InitDataError("initData malformed")
    return fields


def data_check_string(fields: dict[str, str], *, without: tuple[str, ...] = ("hash",)) -> str:
    return "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k not in without)


def webapp_secret(bot_token: str) -> bytes:
    """HMAC_SHA256 of the bot token with the constant "WebAppData" as the key (not the Login Widget's SHA256)."""
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def sign(fields: dict[str, str], bot_token: str) -> str:
    """The hash Telegram would put on these fields (used by tests and the local server)."""
    return hmac.new(webapp_secret(bot_token), data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def check_hash(fields: dict[str, str], bot_token: str) -> None:
    received = fields.get("hash", "")
    if not received:
        raise InitDataError("initData has no hash")
    if not hmac.compare_digest(sign(fields, bot_token), received.lower()):
        raise InitDataError("initData signature is invalid")


def check_signature(fields: dict[str, str], bot_id: int, public_key_hex: str) -> None:
    """Third-party validation: Ed25519 over '<bot_id>:WEBAPPDATA\\n' + the fields but hash and signature."""
    encoded = fields.get("signature", "")
    if not encoded:
        raise InitDataError("initData has no signature")
    try:
        signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        message = f"{bot_id}:WEBAPPDATA\n" + data_check_string(fields, without=("hash", "signature"))
        key.verify(signature, message.encode())
    except (InvalidSignature, ValueError) as exc:
        raise InitDataError("initData signature is invalid") from exc


def check_fresh(fields: dict[str, str], max_age_s: int, now: float) -> int:
    raw = fields.get("auth_date", "")
    if not (raw.isascii() and raw.isdigit()):
        raise InitDataError("initData has no valid auth_date")
    auth_date = int(raw)
    if auth_date > now + FUTURE_SKEW_S:
        raise InitDataError("initData auth_date is in the future")
    if now - auth_date > max_age_s:
        raise InitDataError("initData is too old; reopen the Mini App")
    return auth_date


def signed_user(fields: dict[str, str]) -> dict[str, Any]:
    try:
        user = json.loads(fields.get("user", ""))
    except ValueError as exc:
        raise InitDataError("initData has no valid user") from exc
    uid = user.get("id") if isinstance(user, dict) else None
    if not isinstance(uid, int) or isinstance(uid, bool) or not 0 < uid < 2 ** 63:
        raise InitDataError("initData has no valid user")
    return user


def validate(raw: str, bot_token: str, max_age_s: int, *, public_key_hex: str = "",
             now: float | None = None) -> InitData:
    """Validated initData, or InitDataError. With `public_key_hex`, the Ed25519 signature is checked
    instead of the hash (deployments that validate without the token; the bot id comes from the token)."""
    fields = parse_fields(raw)
    if public_key_hex:
        check_signature(fields, int(bot_token.split(":", 1)[0]), public_key_hex)
    else:
        check_hash(fields, bot_token)
    auth_date = check_fresh(fields, max_age_s, time.time() if now is None else now)
    user = signed_user(fields)
    return InitData(user["id"], user, auth_date, fields)
