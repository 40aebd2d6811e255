"""Defect 8 (moderation and admin): a timed ban's end is announced, admins skip user rate limits,
admin stats count past 100, /tickets fits one message, one referral count everywhere."""
from __future__ import annotations

import time

from handlers import ban_ends
from tests.handlers.harness import ADMIN, joined


class Notices:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    def send_message(self, chat_id, text):
        self.sent.append((chat_id, text))

    def is_member(self, chat_id, user_id):
        return False


def test_the_end_of_a_timed_ban_is_announced_and_lifted(bot):
    bot.join(2)
    bot.join(3)
    bot.rt.api = Notices()
    bot.command(ADMIN, "ban", "2 30m spam")
    bot.command(ADMIN, "ban", "3 30m spam")
    bot.command(ADMIN, "unban", "3")                                  # lifted by hand: no second notice
    assert ban_ends.sweep(bot.rt, now=time.time() + 60) == 0          # not over yet
    assert ban_ends.sweep(bot.rt, now=time.time() + 31 * 60) == 1
    assert bot.rt.api.sent == [(2, bot.rt.texts.get("en", "unbanned"))]
    assert not bot.rt.store.users.get(2).banned
    assert ban_ends.sweep(bot.rt, now=time.time() + 3600) == 0        # told once


def test_a_ban_made_permanent_is_not_announced_as_ended(bot):
    bot.join(2)
    bot.rt.api = Notices()
    bot.command(ADMIN, "ban", "2 30m spam")
    bot.command(ADMIN, "ban", "2 forever now")
    assert ban_ends.sweep(bot.rt, now=time.time() + 3600) == 0 and bot.rt.store.users.get(2).is_banned()


def test_admin_stats_count_past_100(bot):
    bot.join(1)
    bot.rt.store.points.credit(1, 10_000, "award")
    for i in range(120):
        bot.rt.store.points.create_withdrawal(1, 1, "0x" + "ab" * 20)
        bot.rt.store.tickets.open(1, f"c{i}", "help", min_interval_s=0)
    out = joined(bot.command(ADMIN, "admin"))
    assert "120" in out.split("ithdrawals")[1][:12] and out.count("120") >= 2


def test_tickets_listing_fits_one_message(bot):
    bot.join(1)
    for i in range(30):
        bot.rt.store.tickets.open(1, f"c{i}", "x" * 3000, min_interval_s=0)
    text = joined(bot.command(ADMIN, "tickets"))
    assert len(text) <= 4096 and "… +" in text


def test_menu_and_referrals_show_the_same_count(bot):
    bot.join(1)
    bot.join(2, "1")                                                 # verified referral
    bot.command(3, "start", "1")                                     # attributed, captcha not passed
    assert bot.rt.store.users.get(1).referral_count == 1
    assert "Referrals: 1" in joined(bot.command(1, "menu"))
    refs = joined(bot.command(1, "referrals"))
    assert "Total: 1\n" in refs and "Active in the last 7 days: 1\n" in refs
