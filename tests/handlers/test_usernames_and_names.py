"""Defect 6: @username finds its latest holder (profiles refresh on every update), transfer
confirmations name the recipient; defect 8 (part): leaderboard names are cleaned, own rank capped.

Before the fix usernames were refreshed only on /start and the lowest id among stale holders won,
so `/transfer @bob` could pay someone who had given @bob up long ago, with only an id to warn."""
from __future__ import annotations

from handlers import names
from tests.handlers.harness import button_data, joined


def test_username_lookup_finds_the_latest_holder(bot):
    bot.join(1, username="bob", first_name="Old")
    bot.join(2, username="carol", first_name="New")
    bot.join(3, username="payer")
    bot.rt.store.points.credit(3, 100, "award")
    bot.command(1, "points", username="bob_elsewhere", first_name="Old")    # 1 gave @bob up (any update)
    bot.command(2, "points", username="bob", first_name="New")              # 2 took it
    out = bot.command(3, "transfer", "@bob 50")
    assert "New @bob (id 2)" in joined(out)                                # the confirmation names them
    bot.press(3, button_data(out, "tr:ok:"))
    assert bot.rt.store.points.balance(2) == 45 and bot.rt.store.points.balance(1) == 0


def test_profile_changes_are_picked_up_without_start(bot):
    bot.join(1, username="neo", first_name="Thomas")
    bot.command(1, "points", username="the_one", first_name="Neo", premium=True)
    user = bot.rt.store.users.get(1)
    assert (user.username, user.first_name, user.is_premium) == ("the_one", "Neo", True)


def test_names_lose_bidi_controls_links_and_mentions():
    assert names.clean("\u202egoogle.com\u202c Alice") == "Alice"
    assert names.clean("Bob https://spam.example/x @freebies t.me/joinchat") == "Bob"
    assert names.clean("Eve\u200b\u2066 \u2069Smith\x07") == "Eve Smith"
    assert names.clean("visit www.scam.io now") == "visit now"
    assert names.clean("Карл Маркс") == "Карл Маркс"


def test_leaderboard_shows_clean_names(bot):
    name = "\u202eevil.com \u202cMallory https://x.example"
    bot.join(1, first_name=name)
    bot.rt.store.points.credit(1, 50, "award")
    out = joined(bot.command(1, "leaderboard", first_name=name))
    assert "Mallory" in out and "\u202e" not in out and "https://" not in out and "evil.com" not in out


def test_own_rank_is_capped_at_100(bot):
    for uid in range(1, 103):
        bot.rt.store.users.register(uid, f"u{uid}")
        bot.rt.store.users.set_captcha(uid, True, "passed")
        bot.rt.store.points.credit(uid, 1000 - uid, "award")
    assert "Rank: #100+" in joined(bot.command(102, "points"))
    assert "Rank: #5\n" in joined(bot.command(5, "points"))
    assert "Rank: #100+" in joined(bot.command(101, "profile"))
