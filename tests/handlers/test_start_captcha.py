"""/start, the captcha gate and referral attribution, through the router with a fake context."""
from __future__ import annotations

import time

import redis

from tests.handlers.harness import ADMIN, button_data, joined


def test_new_user_gets_a_captcha_photo_and_commands_are_refused(bot):
    out = bot.command(1, "start", first_name="Ann")
    assert [m for m, _ in out] == ["sendPhoto"]                 # the welcome is its caption: one call per /start
    photo, caption = out[0][1]["photo"], out[0][1]["caption"]
    assert photo[0] == "captcha.jpg" and photo[1].startswith(b"\xff\xd8\xff")   # a JPEG
    assert caption.startswith("Welcome to") and "Ann" in caption and "Type the characters" in caption
    assert "captcha" in joined(bot.command(1, "menu")).lower()
    assert "captcha" in joined(bot.command(1, "tasks")).lower()
    assert "Commands" in joined(bot.command(1, "help"))        # /help works before the captcha


def test_a_new_users_start_costs_two_redis_round_trips(bot, monkeypatch):
    """The user cache's read and the gate's one pipeline (the spam freeze, the command count, the
    captcha's lock-out and wrong answers); the new row publishes no invalidation (nothing can have
    cached it); the photo as before."""
    bot.command(2, "start")                                     # connections opened
    sent = []
    send = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command",
                        lambda self, *args, **kwargs: sent.append(args) or send(self, *args, **kwargs))
    out = bot.command(1, "start", first_name="Ann")
    assert [m for m, _ in out] == ["sendPhoto"] and "Type the characters" in out[0][1]["caption"]
    assert len(sent) == 2 and not any(b"PUBLISH" in packed(args[0]).upper() for args in sent)


def packed(command) -> bytes:
    """What one send_packed_command put on the wire (bytes, or a list of chunks)."""
    return command if isinstance(command, bytes) else b"".join(map(bytes, command))


def test_right_answer_passes_and_shows_the_menu(bot):
    bot.command(1, "start")
    out = bot.text(1, bot.captcha_code(1).lower())              # case-insensitive
    assert "Verified" in joined(out) and "Balance: 0" in joined(out)
    assert bot.rt.store.users.get(1).captcha_passed
    assert "Balance" in joined(bot.command(1, "menu"))


def test_wrong_answers_lock_out_after_max_attempts(bot):
    bot.command(1, "start")
    assert "Attempts left: 2" in joined(bot.text(1, "nope"))
    assert "Attempts left: 1" in joined(bot.text(1, "nope"))
    assert "Too many wrong answers" in joined(bot.text(1, "nope"))
    assert "Too many wrong answers" in joined(bot.command(1, "start"))   # locked: no new picture
    assert not bot.rt.store.users.get(1).captcha_passed


def test_expired_captcha_is_replaced(bot):
    bot.command(1, "start")
    conversation = bot.states.get(1, 1)
    old = conversation.data["captcha"]["code"]
    conversation.data["captcha"]["expires_at"] = time.time() - 1
    bot.states.put(1, 1, conversation)
    out = bot.text(1, old)
    assert "expired" in joined(out) and any(m == "sendPhoto" for m, _ in out)
    assert not bot.rt.store.users.get(1).captcha_passed


def test_refresh_keeps_the_attempt_count(bot):
    out = bot.command(1, "start")
    bot.text(1, "wrong")
    out = bot.press(1, button_data(out, "cap:new"))
    assert "Attempts left: 2" in next(p for m, p in out if m == "sendPhoto")["caption"]


def test_referral_bonus_only_after_captcha_and_only_once(bot):
    bot.join(10)
    out = bot.command(11, "start", "ref_10")
    assert bot.rt.store.referrals.get(11).referrer_id == 10
    assert bot.rt.store.points.balance(10) == 0                 # not before the captcha
    out = bot.text(11, bot.captcha_code(11))
    assert bot.rt.store.points.balance(10) == 15
    assert bot.rt.store.points.balance(11) == 7
    assert any(p.get("chat_id") == 10 and "New referral" in p["text"] for _, p in out)
    bot.command(11, "start", "ref_10")                          # again: nothing more
    assert bot.rt.store.points.balance(10) == 15
    assert bot.rt.store.users.get(10).referral_count == 1


def test_welcome_bonus_can_be_disabled(make_bot):
    bot = make_bot(REFERRAL_WELCOME_BONUS_ENABLED="false")
    bot.join(10)
    bot.join(11, "10")                                          # a bare numeric id works too
    assert bot.rt.store.points.balance(10) == 15 and bot.rt.store.points.balance(11) == 0


def test_self_referral_and_loops_are_refused(bot):
    bot.join(10)
    bot.command(10, "start", "ref_10")
    assert bot.rt.store.referrals.get(10) is None
    bot.join(11, "ref_10")
    out = bot.command(10, "code", "11")                          # 10 referred 11: 11 cannot refer 10
    assert "cannot be applied" in joined(out)
    assert bot.rt.store.referrals.get(10) is None


def test_late_code_applies_once_and_pays(bot):
    bot.join(10)
    bot.join(12)
    assert "applied" in joined(bot.command(12, "code", "10"))
    assert bot.rt.store.points.balance(10) == 15
    assert "already have a referrer" in joined(bot.command(12, "code", "10"))


def test_custom_code_is_one_time_and_replaces_the_numeric_link(bot):
    bot.join(10)
    bot.click(10, "ref:code")
    out = bot.text(10, "alpha_1")
    assert "start=ref_ALPHA_1" in joined(out)
    bot.click(10, "ref:code")
    assert "once per hour" in joined(bot.text(10, "BETA_22"))     # one attempt per hour ...
    bot.rt.redis.delete(bot.rt.key("rl", "referral_code", 10, int(time.time() // 3600)))   # ... an hour later
    bot.click(10, "ref:code")
    assert "cannot change" in joined(bot.text(10, "BETA_22"))     # ... and the code is set for good
    assert bot.rt.store.users.get(10).referral_code == "ALPHA_1"
    bot.join(20, "ref_10")                                        # numeric link is dead now
    assert bot.rt.store.referrals.get(20) is None
    bot.join(21, "ref_alpha_1")
    assert bot.rt.store.referrals.get(21).referrer_id == 10


def test_existing_user_goes_to_the_menu(bot):
    bot.join(1)
    assert "Balance" in joined(bot.command(1, "start"))


def test_captcha_can_be_switched_off(make_bot):
    bot = make_bot(CAPTCHA_ENABLED="false")
    bot.command(5, "start")                                       # registered and verified at once
    bot.command(6, "start", "ref_5")
    assert bot.rt.store.points.balance(5) == 15


def test_admin_skips_the_captcha(bot):
    assert "Balance" in joined(bot.command(ADMIN, "start"))
