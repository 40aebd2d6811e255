"""Defect 1: /setting maintenance off, /setting daily_bonus and POINTS_* after the first boot.

Before the fix, "off" was stored as the raw string (truthy: maintenance ON), daily_bonus was saved
where nothing read it, and rewards came from the rows seeded at the first boot forever."""
from __future__ import annotations

from tests.handlers.harness import ADMIN, joined


def test_setting_maintenance_off_when_nothing_was_stored_keeps_the_bot_open(bot):
    bot.join(1)
    bot.command(ADMIN, "setting", "maintenance off")
    assert bot.rt.switch("maintenance") is False
    assert "Balance" in joined(bot.command(1, "points"))
    bot.command(ADMIN, "setting", "maintenance on")
    bot.rt.set_switch("maintenance_message", "Back soon")
    assert "Back soon" in joined(bot.command(1, "points"))


def test_maintenance_mode_setting_is_the_default_of_the_switch(make_bot):
    bot = make_bot(MAINTENANCE_MODE="true", MAINTENANCE_MESSAGE="Upgrading")
    assert "Upgrading" in joined(bot.command(1, "start"))
    bot.command(ADMIN, "maintenance", "off")
    bot.join(1)
    assert "Balance" in joined(bot.command(1, "points"))


def test_setting_daily_bonus_is_what_the_check_in_pays(bot):
    bot.join(1)
    bot.command(ADMIN, "setting", "daily_bonus 25")
    assert bot.rt.switch("daily_bonus") == 25 and bot.rt.store.tasks.get("daily").reward == 25
    bot.click(1, "task:d:daily")
    assert bot.rt.store.points.balance(1) == 25
    assert "daily_bonus = 25" in joined(bot.command(ADMIN, "setting"))


def test_changed_points_settings_reach_the_tasks_after_the_first_boot(make_bot):
    first = make_bot(POINTS_PREMIUM_MEMBER="50", DAILY_BONUS="10")
    assert first.rt.store.tasks.get("premium").reward == 50
    first.command(ADMIN, "setting", "daily_bonus 30")                 # an admin's edit
    again = make_bot(POINTS_PREMIUM_MEMBER="80", DAILY_BONUS="10")    # restart, one setting changed
    assert again.rt.store.tasks.get("premium").reward == 80           # follows the changed setting
    assert again.rt.store.tasks.get("daily").reward == 30             # the edit survives: its setting did not change
    third = make_bot(POINTS_PREMIUM_MEMBER="80", DAILY_BONUS="12")
    assert third.rt.store.tasks.get("daily").reward == 12
    third.join(1, premium=True)
    third.click(1, "task:d:premium", premium=True)
    assert third.rt.store.points.balance(1) == 80
