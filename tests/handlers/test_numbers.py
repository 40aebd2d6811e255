"""One strict number parser: Unicode digits and ids past int64 are bad input, answered, never raised.

Before the fix `'²'.isdigit()` let `int('²')` raise, and ids of 2^63 or more overflowed SQLite/BSON,
so these updates crashed their handler, were retried 5 times and dead-lettered."""
from __future__ import annotations

import pytest

from handlers import numbers
from tests.handlers.harness import ADMIN, joined

HUGE = "99999999999999999999"


@pytest.mark.parametrize("text, value", [("42", 42), ("0", 0), (str(2**63 - 1), 2**63 - 1), ("²", None),
                                         ("٣", None), ("4²", None), (str(2**63), None), (HUGE, None), ("-1", None),
                                         (" 1", None), ("", None), (None, None), ("1e3", None)])
def test_whole(text, value):
    assert numbers.whole(text) == value


def test_bounds_and_ids():
    assert numbers.whole("5", 1, 4) is None and numbers.whole("4", 1, 4) == 4
    assert numbers.telegram_id("0") is None and numbers.telegram_id("7") == 7


def test_transfer_with_unicode_digits_or_huge_numbers_is_bad_input(bot):
    bot.join(1)
    bot.join(2, username="bob")
    bot.rt.store.points.credit(1, 100, "award")
    assert "No such user" in joined(bot.command(1, "transfer", "² 50"))
    assert "No such user" in joined(bot.command(1, "transfer", f"{HUGE} 50"))
    assert "from 10 to 500" in joined(bot.command(1, "transfer", "@bob ²"))
    assert "from 10 to 500" in joined(bot.command(1, "transfer", f"@bob {HUGE}"))
    assert bot.rt.store.points.balance(1) == 100


@pytest.mark.parametrize("payload", [f"ref_{HUGE}", HUGE, "ref_²", str(2**63)])
def test_start_with_a_huge_or_unicode_referral_id_registers_without_referrer(bot, payload):
    bot.join(5, payload)
    user = bot.rt.store.users.get(5)
    assert user is not None and user.referred_by is None


def test_admin_commands_refuse_huge_and_unicode_numbers(bot):
    bot.join(1)
    for args in (f"{HUGE} 5", "1 ²", f"1 {HUGE}", "² 5"):
        assert "/award" in joined(bot.command(ADMIN, "award", args))
    assert bot.rt.store.points.balance(1) == 0
    assert "/ban" in joined(bot.command(ADMIN, "ban", HUGE))
    assert "/addtask" in joined(bot.command(ADMIN, "addtask", "proof ² - Title"))
    assert "Bad value" in joined(bot.command(ADMIN, "setting", "min_withdraw_points ²"))
    assert bot.rt.switch("min_withdraw_points") == 100


def test_ban_for_zero_minutes_is_refused_not_permanent(bot):
    bot.join(1)
    assert "at least 1" in joined(bot.command(ADMIN, "ban", "1 0m spam"))
    assert not bot.rt.store.users.get(1).is_banned()
    bot.command(ADMIN, "ban", "1 ²m spam")          # not a duration: part of the reason, as "spam" would be
    assert bot.rt.store.users.get(1).ban_reason.startswith("²m")


def test_a_deterministic_error_is_answered_by_the_error_hook(bot, monkeypatch):
    bot.join(1)
    from handlers import points

    def overflow(ctx):
        raise OverflowError("Python int too large to convert to SQLite INTEGER")
    monkeypatch.setattr(points.router.commands["points"], "handler", overflow)
    with pytest.raises(OverflowError):
        bot.command(1, "points")
    assert "cannot be used" in joined(bot.last_context.outbox)
