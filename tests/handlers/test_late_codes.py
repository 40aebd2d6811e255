"""Defect 9: a referral code entered after joining pays both sides only for new accounts: younger
than REFERRAL_LATE_CODE_WINDOW_S (default 24 h) and before their first withdrawal.

Before the fix any account of any age could apply a friend's code, and both got the bonus."""
from __future__ import annotations

import time

from storage.records import User
from tests.handlers.harness import joined

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"


def old_account(bot, uid: int, age_s: float) -> None:
    at = time.time() - age_s
    bot.rt.store.import_records("users", [User(uid, f"user{uid}", first_name=f"U{uid}", language_code="en",
                                               captcha_passed=True, registered_at=at, last_active_at=at)])


def test_a_new_account_applies_a_late_code_and_both_are_paid(bot):
    bot.join(1)
    bot.join(2)
    assert "invited by" in joined(bot.command(2, "code", "1"))
    assert bot.rt.store.points.balance(1) == 15 and bot.rt.store.points.balance(2) == 7


def test_an_old_account_cannot_apply_a_code(bot):
    bot.join(1)
    old_account(bot, 2, age_s=2 * 86400)
    assert "within 24 h" in joined(bot.command(2, "code", "1"))
    assert bot.rt.store.users.get(2).referred_by is None
    assert bot.rt.store.points.balance(1) == 0 and bot.rt.store.points.balance(2) == 0


def test_no_late_code_after_a_withdrawal(bot):
    bot.join(1)
    bot.join(2)
    bot.rt.store.points.credit(2, 100, "award")
    bot.rt.store.points.create_withdrawal(2, 100, WALLET)
    assert "after a withdrawal" in joined(bot.command(2, "code", "1"))
    assert bot.rt.store.points.balance(1) == 0


def test_the_window_is_a_setting(make_bot):
    bot = make_bot(REFERRAL_LATE_CODE_WINDOW_S="600")
    bot.join(1)
    old_account(bot, 2, age_s=900)
    assert "within 10 min" in joined(bot.command(2, "code", "1"))
