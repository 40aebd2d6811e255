"""End to end, one shared cluster: every task kind, proof review by an admin, withdraw edge cases.
Real workers, the local Bot API server, getChatMember answered from the emulator's memberships."""
from __future__ import annotations

import pytest

from tests.handlers.live import ADMIN, live_bot, number_after, text_of
from tests.runner.conftest import TOKEN

pytestmark = pytest.mark.slow
CHANNEL = -1001234
ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"
ENV = {"CAPTCHA_ENABLED": "false", "REQUIRED_CHANNEL_ID": "@news", "WITHDRAW_REQUIRE_CHANNEL_JOIN": "true",
       "MIN_WITHDRAW_POINTS": "100", "REFERRAL_TASK_THRESHOLD": "2", "BOT_WEBSITE": "https://example.org",
       "TASK_TWITTER_PROFILE": "https://x.com/botrunner", "ENABLE_REFERRAL_BATCHING": "false",
       "RATE_LIMIT_COMMANDS_PER_MIN": "1000", "RATE_LIMIT_SENSITIVE_PER_HOUR": "1000"}


@pytest.fixture(scope="module")
def bot(redis_server, tmp_path_factory):
    with live_bot(redis_server.url, tmp_path_factory.mktemp("tasks"), **ENV) as live:
        live.control.set_chat(TOKEN, CHANNEL, type="channel", title="News", username="news")
        yield live


def member(bot, user_id: int, status: str) -> None:
    bot.control.set_member(TOKEN, CHANNEL, user_id, status, chat_type="channel", username="news")


def test_channel_task_asks_get_chat_member(bot):
    bot.enter(101)
    bot.tap(101, "task:d:channel", "not a member of @news")
    member(bot, 101, "member")
    bot.tap(101, "task:d:channel", "Join our channel: +10 points")
    bot.tap(101, "task:d:channel", "Already done")
    assert bot.balance(101) == 10


def test_premium_task_reads_is_premium_from_the_update(bot):
    bot.enter(102)
    bot.tap(102, "task:d:premium", "does not have Telegram Premium")
    bot.say(102, "I bought Premium", is_premium=True)              # later updates carry is_premium
    after = bot.last_index(102)
    bot.press(102, "task:d:premium")
    bot.wait(102, "Telegram Premium member: +50 points", after)
    assert bot.balance(102) == 50


def test_referral_count_threshold(bot):
    bot.enter(103)
    bot.tap(103, "task:d:invite", "need more referrals")
    bot.enter(104, "103")
    bot.wait(103, "New referral: U104")
    bot.tap(103, "task:d:invite", "need more referrals")              # 1 of 2
    bot.enter(105, "103")
    bot.wait(103, "New referral: U105")
    bot.tap(103, "task:d:invite", "Invite 2 friends: +25 points")


def test_daily_check_in_cooldown(bot):
    bot.enter(106)
    bot.tap(106, "task:d:daily", "Daily check-in: +10 points")
    bot.tap(106, "task:d:daily", "Already done")                      # cooling down
    after = bot.last_index(106)
    bot.command(106, "tasks")
    assert "🕒" in str(bot.wait(106, "Tasks", after)["message"]["reply_markup"])
    with bot.database() as db:                                        # a day later
        db.execute("UPDATE task_submissions SET reviewed_at = reviewed_at - 86401 WHERE user_id = 106")
    bot.tap(106, "task:d:daily", "Daily check-in: +10 points")
    assert bot.balance(106) == 20


def test_open_a_link_task(bot):
    bot.enter(107)
    details = bot.tap(107, "task:v:website", "Visit our website")
    buttons = [b for row in details["message"]["reply_markup"]["inline_keyboard"] for b in row]
    assert {"text": "🔗 Open", "url": "https://example.org"} in buttons
    bot.tap(107, "task:d:website", "Visit our website: +10 points")
    bot.tap(107, "task:d:website", "Already done")


def test_proof_submission_approved_and_rejected_by_an_admin(bot):
    bot.enter(108)
    bot.enter(109)
    bot.tap(108, "task:p:x_follow", "Send your proof")
    after = bot.last_index(108)
    bot.say(108, "not a handle!!")
    bot.wait(108, "expected format", after)
    bot.tap(108, "task:p:x_follow", "Send your proof")
    after = bot.last_index(108)
    bot.say(108, "@alice_108")
    first = number_after(r"#(\w+)", text_of(bot.wait(108, "Submitted", after)))
    bot.tap(109, "task:p:x_follow", "Send your proof")
    after = bot.last_index(109)
    bot.say(109, "@bob_109")
    second = number_after(r"#(\w+)", text_of(bot.wait(109, "Submitted", after)))

    queue = bot.ask(ADMIN, "pending", f"#{first} user 108")
    assert "@alice_108" in text_of(queue)
    bot.ask(ADMIN, "approve", f"Submission #{first} approved", args=first)
    bot.wait(108, 'Your proof for "Follow us on X" was approved: +15 points')
    bot.ask(ADMIN, "approve", "not pending", args=first)              # approving twice pays once
    bot.ask(ADMIN, "reject", f"Submission #{second} rejected", args=f"{second} no such follower")
    bot.wait(109, "was rejected. Note: no such follower")
    assert bot.balance(108) == 15 and bot.balance(109) == 0
    bot.tap(109, "task:v:x_follow", "rejected ❌")                     # may resubmit


def test_proof_approved_with_the_review_button(bot):
    bot.enter(110)
    bot.tap(110, "task:p:x_follow", "Send your proof")
    after = bot.last_index(110)
    bot.say(110, "carol_110")
    submission = number_after(r"#(\w+)", text_of(bot.wait(110, "Submitted", after)))
    bot.ask(ADMIN, "pending", f"#{submission} user 110")
    bot.tap(ADMIN, f"adm:ap:{submission}", f"Submission #{submission} approved")
    bot.wait(110, "was approved: +15 points")


def test_withdraw_refuses_without_wallet_below_minimum_and_outside_the_channel(bot):
    bot.enter(111)
    bot.ask(111, "withdraw", "Set a wallet first")
    bot.ask(111, "wallet", "Wallet saved", args=ADDRESS)
    bot.ask(111, "withdraw", "at least 100 points to withdraw (you have 0)")
    bot.ask(ADMIN, "award", "Awarded 150", args="111 150")
    bot.ask(111, "withdraw", "Join @news to withdraw")
    member(bot, 111, "member")
    offer = bot.ask(111, "withdraw", "Withdraw 150 points")
    token = _confirm_payload(offer)
    member(bot, 111, "left")                                          # left before confirming
    bot.tap(111, token, "Join @news to withdraw")
    assert bot.balance(111) == 150
    member(bot, 111, "member")
    offer = bot.ask(111, "withdraw", "Withdraw 150 points")
    bot.tap(111, _confirm_payload(offer), "Withdrawal #")
    assert bot.balance(111) == 0


def test_withdraw_confirm_pressed_twice_at_once_debits_once(bot):
    bot.enter(112)
    member(bot, 112, "member")
    bot.ask(112, "wallet", "Wallet saved", args="0x" + "ab" * 20)
    bot.ask(ADMIN, "award", "Awarded 120", args="112 120")
    offer = bot.ask(112, "withdraw", "Withdraw 120 points")
    data = bot.signer.sign(112, _confirm_payload(offer))
    after = bot.last_index(112)
    bot.control.inject_callback(TOKEN, 112, offer["message_id"], data)
    bot.control.inject_callback(TOKEN, 112, offer["message_id"], data)      # the double submit
    bot.wait(112, "is pending", after)
    bot.wait(112, "expired or was already used", after)
    assert bot.count(112, "is pending", after) == 1 and bot.balance(112) == 0
    listing = text_of(bot.ask(ADMIN, "withdrawals", "Pending withdrawals"))
    assert listing.count(": 112 120 -> ") == 1


def _confirm_payload(offer: dict) -> str:
    """The payload of the Confirm button on a withdraw offer (the signature is the bot's, for that user)."""
    rows = offer["message"]["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["callback_data"].startswith("wd:ok:"))
    return data.rpartition("~")[0]

