"""Tasks of every kind, proof review, wallet, withdraw and transfers, support and spam, via a fake context."""
from __future__ import annotations

import time

from storage.records import Task
from tests.handlers.harness import ADMIN, button_data, joined, texts

ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"


def test_channel_task_checks_membership_and_pays_once(bot):
    bot.join(1)
    assert "not a member" in joined(bot.click(1, "task:d:channel"))
    bot.rt.api.members[("@news", 1)] = True
    assert "+10" in joined(bot.click(1, "task:d:channel"))
    assert "Already done" in joined(bot.click(1, "task:d:channel"))
    assert bot.rt.store.points.balance(1) == 10
    bot.rt.api.members[("@news", 1)] = None                           # Telegram unreachable
    bot.join(2)
    bot.rt.api.members[("@news", 2)] = None
    assert "try again" in joined(bot.click(2, "task:d:channel"))


def test_premium_referral_daily_and_link_tasks(bot):
    bot.join(1)
    assert "Premium" in joined(bot.click(1, "task:d:premium"))
    assert "+50" in joined(bot.click(1, "task:d:premium", premium=True))
    assert "more referrals" in joined(bot.click(1, "task:d:invite"))
    for friend in (2, 3, 4):
        bot.join(friend, "ref_1")
    assert "+25" in joined(bot.click(1, "task:d:invite"))
    assert "+10" in joined(bot.click(1, "task:d:daily"))
    assert "Already done" in joined(bot.click(1, "task:d:daily"))     # cooldown
    bot.rt.store.tasks.create(Task("site", "link", "Visit", 5, target="https://example.org"))
    assert "+5" in joined(bot.click(1, "task:d:site"))
    out = bot.click(1, "m:tasks")
    assert "✅" in str(out) and "🕒" in str(out)


def test_proof_review_flow(bot):
    bot.rt.store.tasks.create(Task("xf", "proof", "Follow", 15, proof_pattern=r"@?[A-Za-z0-9_]{1,15}"))
    bot.join(1)
    bot.click(1, "task:p:xf")
    assert "expected format" in joined(bot.text(1, "not a handle!!"))
    bot.click(1, "task:p:xf")
    assert "Submitted" in joined(bot.text(1, "@alice"))
    bot.click(1, "task:p:xf")
    assert "already have a submission" in joined(bot.text(1, "@bob"))     # one live submission
    sub = bot.rt.store.submissions.get_for(1, "xf")
    out = bot.command(ADMIN, "pending")
    bot.click(ADMIN, f"adm:ap:{sub.id}")
    assert bot.rt.store.points.balance(1) == 15
    assert "not pending" in joined(bot.click(ADMIN, f"adm:ap:{sub.id}"))  # double click: paid once
    assert bot.rt.store.points.balance(1) == 15
    assert "@alice" in joined(out)


def test_auto_approved_proof_pays_at_once(bot):
    bot.rt.store.tasks.create(Task("rt", "proof", "Retweet", 9, auto_approve=True))
    bot.join(1)
    bot.click(1, "task:p:rt")
    assert "+9" in joined(bot.text(1, "https://x.com/a/status/123456"))


def test_wallet_checksum_uniqueness_and_normalisation(bot):
    bot.join(1)
    bot.join(2)
    assert "not a valid" in joined(bot.command(1, "wallet", ADDRESS[:-1] + "e"))     # bad checksum
    assert "not a valid" in joined(bot.command(1, "wallet", "0x" + "0" * 40))
    assert ADDRESS in joined(bot.command(1, "wallet", ADDRESS.lower()))
    assert bot.rt.store.users.get(1).wallet_address == ADDRESS
    assert "another account" in joined(bot.command(2, "wallet", ADDRESS.upper().replace("0X", "0x")))


def test_withdraw_needs_wallet_minimum_and_channel_and_confirms_once(make_bot):
    bot = make_bot(WITHDRAW_REQUIRE_CHANNEL_JOIN="true")
    bot.join(1)
    assert "Set a wallet" in joined(bot.command(1, "withdraw"))
    bot.command(1, "wallet", ADDRESS)
    assert "at least 100" in joined(bot.command(1, "withdraw"))
    bot.rt.store.points.credit(1, 150, "award")
    assert "Join @news" in joined(bot.command(1, "withdraw"))
    bot.rt.api.members[("@news", 1)] = True
    out = bot.command(1, "withdraw")
    confirm = button_data(out, "wd:ok:")
    bot.rt.api.members[("@news", 1)] = False                               # left before confirming
    assert "Join @news" in joined(bot.press(1, confirm))
    bot.rt.api.members[("@news", 1)] = True
    confirm = button_data(bot.command(1, "withdraw"), "wd:ok:")
    assert "pending" in joined(bot.press(1, confirm))
    assert "expired or was already used" in joined(bot.press(1, confirm))   # double click
    assert bot.rt.store.points.balance(1) == 0
    withdrawal = bot.rt.store.points.list_withdrawals("pending")[0]
    bot.command(ADMIN, "failed", f"{withdrawal.id} chain down")
    assert bot.rt.store.points.balance(1) == 150                            # refunded


def test_withdraw_confirm_refuses_when_balance_was_spent(bot):
    bot.join(1)
    bot.join(2)
    bot.command(1, "wallet", ADDRESS)
    bot.rt.store.points.credit(1, 120, "award")
    confirm = button_data(bot.command(1, "withdraw"), "wd:ok:")
    bot.rt.store.points.debit_if_enough(1, 50, "admin_debit")
    assert "Insufficient balance" in joined(bot.press(1, confirm))
    assert bot.rt.store.points.balance(1) == 70 and bot.rt.store.points.withdrawals_for(1) == []


def test_transfer_limits_fee_and_confirmation(bot):
    bot.join(1, username="alice")
    bot.join(2, username="bob")
    bot.rt.store.points.credit(1, 1000, "award")
    assert "yourself" in joined(bot.command(1, "transfer", "1 50"))
    assert "No such user" in joined(bot.command(1, "transfer", "@nobody 50"))
    assert "from 10 to 500" in joined(bot.command(1, "transfer", "@bob 5"))
    assert "from 10 to 500" in joined(bot.command(1, "transfer", "@bob 501"))
    out = bot.command(1, "transfer", "@bob 200")
    assert "Fee 20, they receive 180" in joined(out)
    done = bot.press(1, button_data(out, "tr:ok:"))
    assert any(p.get("chat_id") == 2 and "180" in p["text"] for _, p in done)
    assert bot.rt.store.points.balance(2) == 180 and bot.rt.store.points.balance(1) == 800
    out = bot.command(1, "transfer", "2 150")                               # 200 + 150 > 300 per day
    assert "300 points per 24 h" in joined(bot.press(1, button_data(out, "tr:ok:")))
    bot.press(1, button_data(bot.command(1, "transfer", "2 50"), "tr:ok:"))
    out = bot.command(1, "transfer", "2 10")                                 # a third transfer: count limit
    assert "2 transfer(s) per 24 h" in joined(bot.press(1, button_data(out, "tr:ok:")))
    assert "-200" in joined(bot.command(1, "transfers"))


def test_transfer_insufficient_balance_and_conversation(bot):
    bot.join(1)
    bot.join(2)
    bot.command(1, "transfer")
    bot.text(1, "2")
    assert "Insufficient" in joined(bot.text(1, "100"))


def test_someone_elses_button_is_refused(bot):
    bot.join(1)
    bot.join(2)
    bot.rt.store.points.credit(1, 300, "award")
    out = bot.command(1, "transfer", "2 100")
    stolen = button_data(out, "tr:ok:")
    assert "not valid" in joined(bot.press(2, stolen))
    assert bot.rt.store.points.balance(1) == 300


def test_support_ticket_limit_and_admin_reply(bot):
    bot.join(1)
    bot.click(1, "sup:technical")
    out = bot.text(1, "it broke")
    assert "Ticket #" in joined(out) and any(p.get("chat_id") == ADMIN for _, p in out)
    bot.click(1, "sup:technical")
    assert "last 24 h" in joined(bot.text(1, "again"))
    ticket = bot.rt.store.tickets.list_open()[0]
    out = bot.command(ADMIN, "reply", f"{ticket.id} fixed now")
    assert any(p.get("chat_id") == 1 and "fixed now" in p["text"] for _, p in out)


def test_spam_warns_then_freezes(bot):
    bot.join(1)
    replies = [joined(bot.text(1, f"spam {i}")) for i in range(8)]
    assert any("stop flooding" in r for r in replies)
    assert "frozen" in replies[-1]
    menu = bot.command(1, "menu")                          # frozen: the menu is refused with the notice
    assert texts(menu) == ["🧊 Too many messages: you are frozen for 10 min."]


def test_language_switch_and_catalog_override(make_bot, tmp_path):
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "en.json").write_text('{"not_admin": "Nope."}')
    bot = make_bot(TEXTS_DIR=str(tmp_path / "texts"))
    bot.join(1)
    assert joined(bot.command(1, "admin")) == "Nope."
    switched = joined(bot.click(1, "lang:ru"))
    assert "Язык изменён" in switched and "Баланс" in switched     # the menu of that very update is in Russian
    assert "Баланс" in joined(bot.command(1, "menu"))
    bot.join(2, lang="ru")
    assert "Баланс" in joined(bot.command(2, "menu"))


def test_blocked_bot_is_not_a_ban(bot):
    bot.join(1)
    bot.run({"update_id": 5000, "my_chat_member": {
        "chat": {"id": 1, "type": "private"}, "from": {"id": 1, "is_bot": False, "first_name": "U"}, "date": 0,
        "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "B"}},
        "new_chat_member": {"status": "kicked", "until_date": 0, "user": {"id": 1, "is_bot": True, "first_name": "B"}}}})
    user = bot.rt.store.users.get(1)
    assert user.blocked_bot and not user.banned
    bot.command(1, "menu")
    assert not bot.rt.store.users.get(1).blocked_bot


def start_of_window(window_s: float) -> None:
    """Sleep (at most one window) until a fixed window has just begun, so a burst fits inside it."""
    time.sleep(window_s - time.time() % window_s + 0.02)


def test_rate_limit_counts_refuses_and_resets(make_bot):
    bot = make_bot(RATE_LIMIT_COMMANDS_PER_MIN="5", RATE_LIMIT_WINDOW_S="2")
    bot.join(2)
    rate_text = bot.rt.texts.get("en", "rate_limited")
    start_of_window(2)
    replies = [joined(bot.command(2, "points")) for _ in range(5)]
    assert all("Balance" in r for r in replies)                      # exactly 5 pass in the window
    assert joined(bot.command(2, "points")) == rate_text             # the 6th: refused, with the text
    assert bot.command(2, "points") == []                             # refused again; the notice is throttled
    out = bot.click(2, "m:menu")                                      # a button too: answered, nothing done
    assert [method for method, _ in out] == ["answerCallbackQuery"] and "text" not in out[0][1]
    start_of_window(2)                                                # the next window: the counter is reset
    assert "Balance" in joined(bot.command(2, "points"))


def test_history_pages_and_leaderboards(bot):
    bot.join(1)
    bot.join(2)
    for i in range(7):
        bot.rt.store.points.credit(1, 1 + i, "award")
    out = bot.command(1, "history")
    assert "page 1/2" in joined(out)
    assert "page 2/2" in joined(bot.press(1, button_data(out, "pts:h:1")))
    bot.rt.redis.flushdb()
    assert "1. U1 — 28" in joined(bot.command(2, "leaderboard"))
    assert "Your rank: #2" in joined(bot.command(2, "leaderboard"))
    assert "Top 10 by referrals" in joined(bot.click(2, "lb:ref"))
