"""The user commands of docs/bot.md that no other test invokes, their aliases, commands beating a
conversation, the wallet change rules, the withdraw confirmation's expiry, and texts falling back to
English. Through the router with a fake context (tests/handlers/harness.py)."""
from __future__ import annotations

import json

import pytest

from tests.handlers.harness import button_data, buttons, joined, texts

ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"
OTHER = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"


def payloads(outbox) -> list[str]:
    """The payloads of the signed buttons (the part before the signature)."""
    return [b["callback_data"].split("~")[0] for b in buttons(outbox) if "callback_data" in b]


def test_profile_shows_id_balance_earned_rank_and_wallet(bot):
    bot.join(1)
    bot.rt.store.points.credit(1, 40, "award")
    bot.command(1, "wallet", ADDRESS)
    lines = texts(bot.command(1, "profile"))[0].splitlines()
    assert lines[0] == "👤 Profile"
    assert {"ID: 1", "Balance: 40", "Total earned: 40", "Rank: #1", f"Wallet: {ADDRESS}"} <= set(lines)


def test_stats_are_personal(bot):
    bot.join(1)
    bot.join(2, "ref_1")
    bot.rt.store.points.credit(2, 500, "award")
    lines = set(texts(bot.command(1, "stats"))[0].splitlines())
    assert {"Referrals: 1", "Rank by points: #2", "Rank by referrals: #1"} <= lines


@pytest.mark.parametrize("command", ["referrals", "ref"])
def test_referrals_and_its_alias(bot, command):
    bot.join(1)
    bot.join(2, "ref_1")
    out = bot.command(1, command)
    assert "start=ref_1" in joined(out) and "Total: 1" in joined(out) and "next at 5" in joined(out)
    assert payloads(out)[:2] == ["ref:code", "ref:apply"]


@pytest.mark.parametrize("command", ["language", "lang"])
def test_language_and_its_alias_offer_both_languages(bot, command):
    bot.join(1)
    assert payloads(bot.command(1, command)) == ["lang:en", "lang:ru"]


@pytest.mark.parametrize("command, alias", [("points", "balance"), ("leaderboard", "top"), ("transfer", "send")])
def test_aliases_answer_like_their_command(bot, command, alias):
    bot.join(1)
    assert texts(bot.command(1, alias)) == texts(bot.command(1, command))


def test_support_offers_the_three_categories(bot):
    bot.join(1)
    assert payloads(bot.command(1, "support"))[:3] == ["sup:technical", "sup:ban", "sup:business"]


@pytest.mark.parametrize("enter", ["wal:set", "sup:technical", "ref:code"])
def test_cancel_leaves_the_current_step(bot, enter):
    bot.join(1)
    bot.click(1, enter)
    assert bot.states.get(1, 1).state is not None
    assert texts(bot.command(1, "cancel")) == ["Cancelled."]
    assert bot.states.get(1, 1).state is None
    bot.text(1, ADDRESS)                       # plain text again, not the step's answer
    assert bot.rt.store.users.get(1).wallet_address is None and bot.rt.store.tickets.list_open() == []


def test_a_command_beats_the_conversation_state(bot):
    bot.join(1)
    bot.click(1, "wal:set")                    # the bot now waits for an address
    assert texts(bot.command(1, "profile"))[0].startswith("👤 Profile")
    assert bot.rt.store.users.get(1).wallet_address is None


def test_wallet_change_waits_out_the_cooldown(make_bot):
    bot = make_bot(WALLET_CHANGE_COOLDOWN_S="3600")
    bot.join(1)
    assert "Wallet saved" in joined(bot.command(1, "wallet", ADDRESS))
    assert "try again in about 1 h" in joined(bot.command(1, "wallet", OTHER))
    assert bot.rt.store.users.get(1).wallet_address == ADDRESS
    bot.rt.redis.delete(bot.rt.key("wallet-changed", 1))            # the hour has passed
    assert "Wallet saved" in joined(bot.command(1, "wallet", OTHER))
    assert bot.rt.store.users.get(1).wallet_address == OTHER


def test_wallet_change_can_be_forbidden(make_bot):
    bot = make_bot(WALLET_CHANGE_ALLOWED="false", WALLET_CHANGE_COOLDOWN_S="0")
    bot.join(1)
    bot.command(1, "wallet", ADDRESS)
    assert texts(bot.command(1, "wallet", OTHER)) == ["Your wallet cannot be changed."]
    assert bot.rt.store.users.get(1).wallet_address == ADDRESS


def test_withdraw_confirmation_expires(make_bot):
    bot = make_bot(WITHDRAW_REQUIRE_CHANNEL_JOIN="false", WITHDRAW_CONFIRM_TIMEOUT_S="120")
    bot.join(1)
    bot.command(1, "wallet", ADDRESS)
    bot.rt.store.points.credit(1, 150, "award")
    confirm = button_data(bot.command(1, "withdraw"), "wd:ok:")
    (offer,) = bot.rt.redis.keys(bot.rt.key("act", "*"))
    assert 0 < bot.rt.redis.ttl(offer) <= 120                       # WITHDRAW_CONFIRM_TIMEOUT_S
    bot.rt.redis.delete(offer)                                      # ... and it has run out
    assert "expired or was already used" in joined(bot.press(1, confirm))
    assert bot.rt.store.points.balance(1) == 150 and bot.rt.store.points.withdrawals_for(1) == []


def test_a_text_missing_from_a_language_falls_back_to_english(make_bot, tmp_path):
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "de.json").write_text(json.dumps({"cancelled": "Abgebrochen."}))
    bot = make_bot(TEXTS_DIR=str(tmp_path / "texts"))
    bot.join(1, lang="de")
    assert texts(bot.command(1, "cancel", lang="de")) == ["Abgebrochen."]           # the new language
    assert texts(bot.command(1, "profile", lang="de"))[0].startswith("👤 Profile")  # English for the rest
