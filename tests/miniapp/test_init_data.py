"""initData validation against vectors computed here independently of the module under test."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import quote, urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from botrunner.miniapp.init_data import InitDataError, validate

TOKEN = "123456:AAH-test-token-for-initdata"
NOW = 1_800_000_000
USER = {"id": 279058397, "first_name": "Vladislav + - ? \\/", "username": "vdkfrost", "language_code": "ru"}


def telegram_hash(pairs: dict[str, str], token: str = TOKEN) -> str:
    """What Telegram computes: secret = HMAC(key "WebAppData", token); hex HMAC(secret, check string)."""
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    check = "\n".join(f"{k}={v}" for k, v in sorted(pairs.items()))
    return hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()


def signed(pairs: dict[str, str] | None = None, token: str = TOKEN, order: list[str] | None = None) -> str:
    pairs = pairs or {"query_id": "AAHdF6IQAAAAAN0XohDhr8c", "user": json.dumps(USER, separators=(",", ":")),
                      "auth_date": str(NOW - 10)}
    pairs = {**pairs, "hash": telegram_hash(pairs, token)}
    keys = order or list(pairs)
    return urlencode([(k, pairs[k]) for k in keys], quote_via=quote)


def test_valid_init_data_gives_the_signed_user():
    data = validate(signed(), TOKEN, 3600, now=NOW)
    assert data.user_id == USER["id"] and data.user["username"] == "vdkfrost" and data.auth_date == NOW - 10


def test_field_order_in_the_query_string_does_not_matter():
    assert validate(signed(order=["hash", "user", "auth_date", "query_id"]), TOKEN, 3600, now=NOW).user_id == USER["id"]


def test_tampered_user_is_refused():
    raw = signed().replace("279058397", "279058398")
    with pytest.raises(InitDataError, match="signature is invalid"):
        validate(raw, TOKEN, 3600, now=NOW)


def test_added_field_is_refused():
    with pytest.raises(InitDataError, match="signature is invalid"):
        validate(signed() + "&chat_type=private", TOKEN, 3600, now=NOW)


def test_another_bots_token_and_the_login_widget_key_are_refused():
    with pytest.raises(InitDataError):
        validate(signed(token="654321:other-bot"), TOKEN, 3600, now=NOW)
    pairs = {"user": json.dumps(USER), "auth_date": str(NOW)}
    widget_key = hashlib.sha256(TOKEN.encode()).digest()          # the Node bot's defect: the Login Widget scheme
    check = "\n".join(f"{k}={v}" for k, v in sorted(pairs.items()))
    forged = urlencode({**pairs, "hash": hmac.new(widget_key, check.encode(), hashlib.sha256).hexdigest()})
    with pytest.raises(InitDataError, match="signature is invalid"):
        validate(forged, TOKEN, 3600, now=NOW)


def test_missing_hash_stale_and_future_auth_date_are_refused():
    with pytest.raises(InitDataError, match="no hash"):
        validate(urlencode({"user": json.dumps(USER), "auth_date": str(NOW)}), TOKEN, 3600, now=NOW)
    with pytest.raises(InitDataError, match="too old"):
        validate(signed({"user": json.dumps(USER), "auth_date": str(NOW - 3601)}), TOKEN, 3600, now=NOW)
    with pytest.raises(InitDataError, match="future"):
        validate(signed({"user": json.dumps(USER), "auth_date": str(NOW + 600)}), TOKEN, 3600, now=NOW)


def test_signed_but_unusable_user_or_duplicate_keys_are_refused():
    for user in ("not json", json.dumps({"first_name": "no id"}), json.dumps({"id": "42"}), json.dumps({"id": 2 ** 64})):
        with pytest.raises(InitDataError, match="valid user"):
            validate(signed({"user": user, "auth_date": str(NOW)}), TOKEN, 3600, now=NOW)
    with pytest.raises(InitDataError, match="malformed"):
        validate(signed() + "&auth_date=1", TOKEN, 3600, now=NOW)
    with pytest.raises(InitDataError, match="missing or too long"):
        validate("a=" + "x" * 9000, TOKEN, 3600, now=NOW)


def test_third_party_ed25519_signature():
    key = Ed25519PrivateKey.generate()
    public_hex = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    pairs = {"user": json.dumps(USER), "auth_date": str(NOW), "chat_type": "private"}
    message = "123456:WEBAPPDATA\n" + "\n".join(f"{k}={v}" for k, v in sorted(pairs.items()))
    signature = base64.urlsafe_b64encode(key.sign(message.encode())).decode().rstrip("=")
    raw = urlencode({**pairs, "signature": signature, "hash": "ignored-in-this-mode"})
    assert validate(raw, TOKEN, 3600, public_key_hex=public_hex, now=NOW).user_id == USER["id"]
    with pytest.raises(InitDataError, match="signature is invalid"):
        validate(raw.replace("private", "group"), TOKEN, 3600, public_key_hex=public_hex, now=NOW)
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    with pytest.raises(InitDataError, match="signature is invalid"):
        validate(raw, TOKEN, 3600, public_key_hex=other, now=NOW)
