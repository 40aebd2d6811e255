"""WITHDRAW_MODE=claim: the signed claim verifies (the signer is recovered from the signature), nonces
per user never repeat, a redelivered confirmation signs the same claim; channel alerts."""
from __future__ import annotations

import re

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from botrunner.config.settings import ConfigError, load_settings
from handlers import claims
from tests.handlers.harness import button_data, joined

KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SIGNER = Account.from_key(KEY).address
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
CONTRACT = "0x" + "c0" * 20
CLAIM_ENV = {"WITHDRAW_MODE": "claim", "CLAIM_SIGNER_PRIVATE_KEY": KEY, "CLAIM_CONTRACT_ADDRESS": CONTRACT,
             "POINTS_TO_TOKEN_CONVERSION_RATE": "0.001", "TOKEN_DECIMALS": "18"}


def test_digest_is_keccak_of_the_abi_encoding():
    word = lambda n: n.to_bytes(32, "big")
    expected = keccak(bytes(12) + bytes.fromhex(WALLET[2:]) + word(150 * 10**15) + word(7))
    assert claims.claim_digest(WALLET.lower(), 150 * 10**15, 7) == expected


def test_signature_recovers_the_signer_and_binds_every_field():
    claim = claims.sign_claim(KEY, WALLET, 10**18, 1)
    digest = claims.claim_digest(WALLET, 10**18, 1)
    assert Account.recover_message(encode_defunct(primitive=digest), signature=claim.signature) == SIGNER
    assert claims.signer_of(claim) == SIGNER == claims.signer_address(KEY)
    for changed in (claims.Claim(claim.address, claim.amount_wei + 1, 1, claim.signature),
                    claims.Claim(claim.address, claim.amount_wei, 2, claim.signature),
                    claims.Claim("0x" + "11" * 20, claim.amount_wei, 1, claim.signature)):
        assert claims.signer_of(changed) != SIGNER


def test_amount_in_base_units_is_exact():
    assert claims.amount_wei(150, 0.001, 18) == 150 * 10**15
    assert claims.amount_wei(3, 0.1, 18) == 3 * 10**17          # 3 * 0.1 is 0.30000000000000004 in floats
    assert claims.amount_wei(1, 0.001, 0) == 0


def test_claim_mode_needs_key_and_contract():
    with pytest.raises(ConfigError, match="WITHDRAW_MODE=claim is invalid"):
        load_settings(environ={"WITHDRAW_MODE": "claim", "CLAIM_SIGNER_PRIVATE_KEY": KEY}, env_file=None)
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"CLAIM_SIGNER_PRIVATE_KEY": KEY[:-1]}, env_file=None)
    assert KEY[2:-1] not in str(err.value)


def claim_of(text: str) -> claims.Claim:
    wei, nonce, signature = (re.search(rf"{name}: (\S+)", text).group(1) for name in ("amount", "nonce", "signature"))
    return claims.Claim(WALLET, int(wei), int(nonce), signature)


def withdraw(bot, points: int):
    bot.rt.store.points.credit(1, points, "award")
    return bot.callback_update(1, button_data(bot.command(1, "withdraw"), "wd:ok:"))


def test_claim_withdrawal_gives_verifiable_claim_data_with_fresh_nonces(make_bot):
    bot = make_bot(**CLAIM_ENV)
    bot.join(1)
    bot.command(1, "wallet", WALLET)
    update = withdraw(bot, 150)
    first, again = bot.run(update), bot.run(update)                 # the runner redelivers the confirmation
    claim = claim_of(joined(first))
    assert claim == claim_of(joined(again))                         # same nonce, same signature
    assert (claim.amount_wei, claim.nonce) == (150 * 10**15, 1) and claims.signer_of(claim) == SIGNER
    assert CONTRACT in joined(first) and claims.CLAIM_FUNCTION in joined(first)
    assert bot.rt.store.points.balance(1) == 0
    (withdrawal,) = bot.rt.store.points.withdrawals_for(1)
    assert (withdrawal.status, withdrawal.tx_hash) == ("paid", "claim:1")
    second = claim_of(joined(bot.run(withdraw(bot, 200))))
    assert second.nonce == 2 and claims.signer_of(second) == SIGNER and second.amount_wei == 200 * 10**15
    assert bot.rt.store.claims.last_nonce(1) == 2


def test_manual_mode_keeps_the_admin_flow(bot):
    bot.join(1)
    bot.command(1, "wallet", WALLET)
    out = bot.run(withdraw(bot, 150))
    assert "pending" in joined(out) and "signature" not in joined(out)
    assert bot.rt.store.points.list_withdrawals("pending")[0].user_id == 1


def test_withdrawals_and_transfers_alert_the_channel(make_bot):
    bot = make_bot(WITHDRAW_ALERT_CHANNEL_ID="-100777")
    bot.join(1)
    bot.join(2, username="bob")
    bot.command(1, "wallet", WALLET)
    alerts = [p["text"] for _, p in bot.run(withdraw(bot, 150)) if p.get("chat_id") == "-100777"]
    assert len(alerts) == 1 and "150 points" in alerts[0]
    bot.rt.store.points.credit(1, 100, "award")
    done = bot.press(1, button_data(bot.command(1, "transfer", "@bob 50"), "tr:ok:"))
    alerts = [p["text"] for _, p in done if p.get("chat_id") == "-100777"]
    assert len(alerts) == 1 and "1 → 2, 50 points (fee 5)" in alerts[0]
