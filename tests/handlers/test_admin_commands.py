"""Admin commands past the refusal: task management, /tickets, /withdrawals and /paid, /ban duration
parsing, and the CSV export's quoting of cells a spreadsheet would run as formulas."""
from __future__ import annotations

import csv
import gzip
import io
import time

import pytest

from tests.handlers.harness import ADMIN, button_data, buttons, joined, texts

ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"


def task_list_shown_to(bot, user_id: int) -> str:
    """The user's /tasks list: one button per task."""
    return "\n".join(b["text"] for b in buttons(bot.command(user_id, "tasks")))


def test_addtask_disabletask_enabletask_and_tasklist(bot):
    bot.join(1)
    out = bot.command(ADMIN, "addtask", "link 7 https://example.org Visit example")
    task_id = texts(out)[0].split()[1]
    assert texts(out) == [f"Task {task_id} added: Visit example"]
    assert f"{task_id} [link] +7 on — Visit example" in joined(bot.command(ADMIN, "tasklist"))
    assert "Visit example" in task_list_shown_to(bot, 1)
    bot.command(ADMIN, "disabletask", task_id)
    assert f"{task_id} [link] +7 off — Visit example" in joined(bot.command(ADMIN, "tasklist"))
    assert "Visit example" not in task_list_shown_to(bot, 1)                  # users no longer see it
    bot.command(ADMIN, "enabletask", task_id)
    assert "Visit example" in task_list_shown_to(bot, 1)
    assert "/addtask" in joined(bot.command(ADMIN, "addtask", "nonsense 7 - x"))  # a bad kind: the usage
    assert "/disabletask" in joined(bot.command(ADMIN, "disabletask", "no-such-task"))


def test_addtask_proof_pattern(bot):
    out = bot.command(ADMIN, "addtask", "proof 12 - Post about us | https://x\\.com/.+")
    task = bot.rt.store.tasks.get(texts(out)[0].split()[1])
    assert (task.kind, task.reward, task.title, task.proof_pattern) == ("proof", 12, "Post about us",
                                                                         "https://x\\.com/.+")


def test_tickets_lists_open_tickets(bot):
    bot.join(1)
    assert texts(bot.command(ADMIN, "tickets")) == ["Open tickets:\n-"]
    bot.click(1, "sup:technical")
    bot.text(1, "the menu does not open")
    (ticket,) = bot.rt.store.tickets.list_open()
    listed = joined(bot.command(ADMIN, "tickets"))
    assert str(ticket.id) in listed and "the menu does not open" in listed


def test_withdrawals_and_paid_settle_and_tell_the_user(make_bot):
    bot = make_bot(WITHDRAW_REQUIRE_CHANNEL_JOIN="false")
    bot.join(1)
    bot.command(1, "wallet", ADDRESS)
    bot.rt.store.points.credit(1, 150, "award")
    bot.press(1, button_data(bot.command(1, "withdraw"), "wd:ok:"))
    (withdrawal,) = bot.rt.store.points.list_withdrawals("pending")
    assert f"{withdrawal.id}: 1 150 -> {ADDRESS}" in joined(bot.command(ADMIN, "withdrawals"))
    out = bot.command(ADMIN, "paid", f"{withdrawal.id} 0xabc123")
    assert any(p.get("chat_id") == 1 for _, p in out)                          # the user is told
    assert bot.rt.store.points.get_withdrawal(withdrawal.id).status == "paid"
    assert bot.rt.store.points.list_withdrawals("pending") == []
    assert "not pending" in joined(bot.command(ADMIN, "paid", withdrawal.id))  # settled once
    assert "not pending" in joined(bot.command(ADMIN, "failed", withdrawal.id))
    assert bot.rt.store.points.balance(1) == 0                                 # no refund after paid


@pytest.mark.parametrize("word, seconds", [("30m", 1800), ("12h", 12 * 3600), ("7d", 7 * 86400),
                                           ("2w", 14 * 86400), ("3H", 3 * 3600)])
def test_ban_durations(bot, word, seconds):
    bot.join(2)
    before = time.time()
    bot.command(ADMIN, "ban", f"2 {word} spamming links")
    user = bot.rt.store.users.get(2)
    assert before + seconds <= user.banned_until <= time.time() + seconds
    assert user.ban_reason == "spamming links"


@pytest.mark.parametrize("words", ["5y spamming", "spamming", "30 minutes"])
def test_ban_without_a_duration_is_permanent_and_keeps_every_word_as_the_reason(bot, words):
    bot.join(2)
    bot.command(ADMIN, "ban", f"2 {words}")
    user = bot.rt.store.users.get(2)
    assert user.banned_until is None and user.ban_reason == words and user.is_banned()


def test_export_quotes_every_formula_prefix(bot):
    for uid, name in ((2, "=cmd"), (3, "+SUM"), (4, "-2+3"), (5, "@here"), (6, "plain")):
        bot.join(uid, username=name, first_name=name)
    uploads = []
    bot.rt.api.send_document = lambda chat, path, name, caption="": uploads.append(path.read_bytes())
    bot.command(ADMIN, "export")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(gzip.decompress(uploads[0]).decode()))}
    assert [rows[str(uid)]["username"] for uid in range(2, 7)] == ["'=cmd", "'+SUM", "'-2+3", "'@here", "plain"]
    assert [rows[str(uid)]["first_name"] for uid in range(2, 7)] == ["'=cmd", "'+SUM", "'-2+3", "'@here", "plain"]
