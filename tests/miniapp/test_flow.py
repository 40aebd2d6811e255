"""The bot side of the Mini App captcha, through handlers.app's router on real SQLite and Redis:
the web_app prompt at /start, commands refused until verified, the verification event (device
rules, prompt deleted, image captcha or welcome), the referral bonus exactly once, /cleardevice."""
from __future__ import annotations

import itertools

import pytest

from botrunner.bot.events import make_event
from tests.handlers.conftest import make_bot  # noqa: F401  (the fixture)
from tests.handlers.harness import ADMIN, joined

MINIAPP = {"MINIAPP_URL": "https://mini.example.org/miniapp/", "FINGERPRINT_SALT": "pepper-for-tests"}
DEVICE_A, DEVICE_B = "a" * 64, "b" * 64
_ids = itertools.count(1)


def verified(bot, user_id: int, device: str = DEVICE_A, prompt: int | None = 77):
    """The event api/verify stores after a solved slider, handled as the lane would."""
    update = make_event(-next(_ids), "miniapp.verified", user_id,
                        {"device": device, "ip": "net1", "prompt_message_id": prompt, "user": {"first_name": "Eve"}})
    return bot.run(update)


def web_app_buttons(out) -> list[dict]:
    return [b for m, p in out if m == "sendMessage" for row in (p.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row if "web_app" in b]


@pytest.fixture
def miniapp_only(make_bot):  # noqa: F811
    return make_bot(CAPTCHA_ENABLED="false", **MINIAPP)


def test_start_gets_the_web_app_button_and_commands_wait_for_the_slider(miniapp_only):
    bot = miniapp_only
    out = bot.command(1, "start")
    [button] = web_app_buttons(out)
    assert button["web_app"] == {"url": "https://mini.example.org/miniapp/"}
    prompt = next(p for m, p in out if m == "sendMessage" and web_app_buttons([(m, p)]))
    assert prompt["_remember_as"] == "miniapp-prompt:1"            # so api/verify can name it for deletion
    assert not any(m == "sendPhoto" for m, _ in out)                # the Mini App instead of the image captcha
    assert "captcha" in joined(bot.command(1, "menu")).lower()
    assert web_app_buttons(bot.command(1, "start"))                 # /start shows the button again
    assert not bot.rt.store.users.get(1).captcha_passed


def test_verification_deletes_the_prompt_and_welcomes(miniapp_only):
    bot = miniapp_only
    bot.command(2, "start")
    out = verified(bot, 2, prompt=55)
    assert out[0] == ("deleteMessage", {"chat_id": 2, "message_id": 55})
    assert "Verified" in joined(out)
    assert bot.rt.store.users.get(2).captcha_passed
    assert "Balance" in joined(bot.command(2, "menu"))
    assert [f.fingerprint_hash for f in bot.rt.store.fingerprints.for_user(2)] == [DEVICE_A]


def test_image_captcha_follows_the_slider_when_enabled(make_bot):  # noqa: F811
    bot = make_bot(CAPTCHA_ENABLED="true", **MINIAPP)
    assert web_app_buttons(bot.command(3, "start"))
    out = verified(bot, 3)
    assert any(m == "sendPhoto" for m, _ in out) and "Verified" not in joined(out)
    assert not bot.rt.store.users.get(3).captcha_passed
    assert any(m == "sendPhoto" for m, _ in bot.command(3, "start"))   # /start now repeats the image step
    assert "Verified" in joined(bot.text(3, bot.captcha_code(3)))
    assert bot.rt.store.users.get(3).captcha_passed


def test_referral_bonus_is_paid_once_and_only_after_verification(miniapp_only):
    bot = miniapp_only
    bot.command(10, "start")
    verified(bot, 10, device="c" * 64)
    bot.command(11, "start", "10")
    assert bot.rt.store.referrals.get(11) is not None                 # attributed at /start ...
    assert bot.rt.store.users.get(10).points == 0                     # ... but not paid
    out = verified(bot, 11, device="d" * 64)
    assert any(p.get("chat_id") == 10 for m, p in out if m == "sendMessage")   # the referrer is told
    paid = bot.rt.store.users.get(10).points
    assert paid == bot.rt.settings.referral_bonus
    verified(bot, 11, device="d" * 64)                                # a second verification
    assert bot.rt.store.users.get(10).points == paid


def test_a_device_held_by_another_account_blocks_until_an_admin_clears_it(miniapp_only):
    bot = miniapp_only
    bot.command(20, "start")
    verified(bot, 20, device=DEVICE_B)
    bot.command(21, "start")
    out = verified(bot, 21, device=DEVICE_B)
    assert "Security notice" in joined(out) and "Verified" not in joined(out)
    assert not bot.rt.store.users.get(21).captcha_passed
    again = bot.command(21, "start")
    assert "Security notice" in joined(again) and web_app_buttons(again)
    assert "Security notice" in joined(verified(bot, 21, device=DEVICE_B))   # still held by 20
    assert "captcha" in joined(bot.command(21, "menu")).lower()
    assert "admins only" in joined(bot.command(21, "cleardevice", "20"))
    assert "Forgot 1 device" in joined(bot.command(ADMIN, "cleardevice", "20"))
    assert "Verified" in joined(verified(bot, 21, device=DEVICE_B))


def test_flag_mode_lets_the_account_in_and_tells_the_admins(make_bot):  # noqa: F811
    bot = make_bot(CAPTCHA_ENABLED="false", MINIAPP_DEVICE_COLLISION="flag", **MINIAPP)
    bot.command(30, "start")
    verified(bot, 30)
    bot.command(31, "start")
    out = verified(bot, 31)
    assert "Verified" in joined(out)
    assert any(p.get("chat_id") == ADMIN and "belongs to user 30" in p["text"] for m, p in out if m == "sendMessage")


def test_flag_notices_go_to_the_admin_chat_when_there_is_one(make_bot):  # noqa: F811
    bot = make_bot(CAPTCHA_ENABLED="false", MINIAPP_DEVICE_COLLISION="flag", ADMIN_CHAT_ID="-100777", **MINIAPP)
    bot.command(32, "start")
    verified(bot, 32)
    bot.command(33, "start")
    out = verified(bot, 33)
    chats = [p.get("chat_id") for m, p in out if m == "sendMessage" and "belongs to user 32" in p["text"]]
    assert chats == ["-100777"]


def test_a_new_device_replaces_the_old_one(miniapp_only):
    bot = miniapp_only
    bot.command(40, "start")
    verified(bot, 40, device=DEVICE_A)
    verified(bot, 40, device=DEVICE_B)
    assert [f.fingerprint_hash for f in bot.rt.store.fingerprints.for_user(40)] == [DEVICE_B]


def test_a_banned_users_verification_does_nothing(miniapp_only):
    bot = miniapp_only
    bot.command(50, "start")
    bot.rt.store.users.ban(50, "spam")
    assert verified(bot, 50) == []
    assert not bot.rt.store.users.get(50).captcha_passed


def test_a_verification_before_any_start_registers_the_user_from_init_data(miniapp_only):
    bot = miniapp_only
    out = verified(bot, 60, prompt=None)
    assert "Verified" in joined(out) and not any(m == "deleteMessage" for m, _ in out)
    user = bot.rt.store.users.get(60)
    assert user.first_name == "Eve" and user.captcha_passed
