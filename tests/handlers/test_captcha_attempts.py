"""Defect 2: wrong captcha answers count per user across new challenges.

Before the fix every challenge started at 0 attempts, so alternating a wrong answer and /start never
reached the lock-out."""
from __future__ import annotations

from tests.handlers.harness import joined


def test_alternating_wrong_answers_and_start_reaches_the_lock_out(make_bot):
    bot = make_bot(CAPTCHA_MAX_ATTEMPTS="3")
    for _ in range(2):
        bot.command(1, "start")
        assert "Wrong" in joined(bot.text(1, "WRONG1"))
    bot.command(1, "start")
    assert "Attempts left: 1." in joined(bot.last[1])
    assert "Too many wrong answers" in joined(bot.text(1, "WRONG1"))
    out = bot.command(1, "start")
    assert "Too many wrong answers. Try again in" in joined(out)
    assert not bot.rt.store.users.get(1).captcha_passed


def test_new_picture_does_not_reset_the_count_and_passing_clears_it(make_bot):
    bot = make_bot(CAPTCHA_MAX_ATTEMPTS="3")
    bot.command(1, "start")
    bot.text(1, "WRONG1")
    bot.click(1, "cap:new")
    assert "Attempts left: 1." in joined(bot.text(1, "WRONG1"))
    bot.text(1, bot.captcha_code(1))
    assert bot.rt.store.users.get(1).captcha_passed
    assert not bot.rt.redis.exists(bot.rt.key("captcha-attempts", 1))
