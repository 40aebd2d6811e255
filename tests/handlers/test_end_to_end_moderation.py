"""End to end, one shared cluster: bans, maintenance, every admin command refused to non-admins,
hostile text and unicode, malformed JSON strings, forged and stolen callback data."""
from __future__ import annotations

import json

import pytest

from botrunner.bot.callback_data import Signer
from tests.handlers.live import ADMIN, live_bot, text_of
from tests.handlers.test_admin import ALL_ADMIN
from tests.runner.conftest import TOKEN, wait_until

pytestmark = pytest.mark.slow
ENV = {"CAPTCHA_ENABLED": "false", "RATE_LIMIT_COMMANDS_PER_MIN": "1000", "RATE_LIMIT_SENSITIVE_PER_HOUR": "1000",
       "SPAM_WARN_THRESHOLD": "100", "SPAM_FREEZE_THRESHOLD": "200"}


@pytest.fixture(scope="module")
def bot(redis_server, tmp_path_factory):
    with live_bot(redis_server.url, tmp_path_factory.mktemp("moderation"), **ENV) as live:
        yield live


def test_ban_with_notice_refusal_and_unban(bot):
    bot.enter(201)
    bot.ask(ADMIN, "ban", "Banned 201. Reason: spamming links", args="201 1h spamming links")
    bot.wait(201, "You are banned. Reason: spamming links")           # the notice
    after = bot.last_index(201)
    bot.command(201, "menu")
    bot.wait(201, "You are banned", after)                            # refused, told why
    assert bot.find(201, "Balance", after) is None
    bot.ask(ADMIN, "unban", "Unbanned 201", args="201")
    bot.wait(201, "Your ban was lifted")
    bot.ask(201, "menu", "Balance: 0 points")


def test_maintenance_refuses_users_not_admins(bot):
    bot.enter(202)
    bot.enter(ADMIN)
    bot.ask(ADMIN, "maintenance", "Maintenance is ON", args="on back at five")
    try:
        _until_answered(bot, 202, "back at five")                      # workers pick the switch up within seconds
        bot.ask(ADMIN, "menu", "Balance")                              # the admin keeps working
        bot.ask(ADMIN, "admin", "Maintenance: True")
    finally:
        bot.ask(ADMIN, "maintenance", "Maintenance is OFF", args="off")
    _until_answered(bot, 202, "Balance")


def _until_answered(bot, user_id: int, needle: str, attempts: int = 15) -> None:
    """Send /menu until the reply contains `needle` (switches reach every worker within a few seconds;
    refusal notices are throttled, so a refused /menu may get no answer at all)."""
    for _ in range(attempts):
        after = bot.last_index(user_id)
        bot.command(user_id, "menu")
        try:
            bot.wait(user_id, needle, after, timeout=2.0)
            return
        except pytest.fail.Exception:
            continue
    pytest.fail(f"{needle!r} never reached {user_id}")


def test_non_admin_is_refused_every_admin_command(bot):
    users = (203, 209, 210, 211)           # spread over chats: replies to one chat are paced at ~1 a second
    for user in users + (204,):
        bot.enter(user)
    after = {user: bot.last_index(user) for user in users}
    for i, command in enumerate(ALL_ADMIN):
        bot.command(users[i % len(users)], command, "204 500 because")
    wait_until(lambda: sum(bot.count(u, "for admins only", after[u]) for u in users) == len(ALL_ADMIN), 60,
               what="every admin command refused")
    assert bot.balance(204) == 0
    bot.ask(204, "menu", "Balance: 0 points")                          # not banned, no maintenance
    assert bot.count(204, "banned") == 0
    bot.tap(203, "adm:ap:whatever", "for admins only")                 # the admin button, signed for 203


def test_hostile_text_and_odd_unicode(bot):
    bot.enter(205)
    name = "\u202eRTL\u200f 👨\u200d👩\u200d👧 z\u200dw\u200cj"
    bot.command(205, "start", first_name=name)                         # odd names are shown, not parsed
    after = bot.last_index(205)
    bot.say(205, "x" * 4096 + "overflow")                              # longer than any Telegram text
    bot.wait(205, "did not understand", after)
    bot.press(205, "sup:technical")
    bot.wait(205, "Describe your issue")
    after_admin = bot.last_index(ADMIN)
    hostile = "\u0001\u0007\u001b[31m bell \u202e\u2066evil\u2069 \ufeff\u200b 🧨" + "é" * 5000
    bot.say(205, hostile)
    opened = bot.wait(205, "Ticket #")
    ticket = bot.wait(ADMIN, "from 205", after_admin)
    assert "bell" in text_of(ticket) and "\u0001" not in text_of(ticket) and "\u001b" not in text_of(ticket)
    assert len(text_of(ticket)) < 4096 and opened
    bot.ask(205, "wallet", "not a valid", args="0x" + "\u0660" * 40)    # Arabic-Indic digits are no hex
    bot.ask(205, "transfer", "No such user", args="@\u200b\u200b 50")
    bot.ask(205, "menu", "Balance: 0 points")                          # and the bot still serves the user


def inject_json_text(bot, update_json: str):
    """inject_raw with the update written as JSON text, escapes and all (a Python str holding a lone
    surrogate cannot even be encoded, so the request body is built by hand)."""
    body = f'{{"token": {json.dumps(TOKEN)}, "update": {update_json}, "chat_id": 206}}'
    return bot.control.http.post("/inject/raw", content=body.encode(), headers={"content-type": "application/json"})


def raw_message(first_name: str, text: str, message_id: int) -> str:
    return (f'{{"message": {{"message_id": {message_id}, "date": 0, "chat": {{"id": 206, "type": "private"}}, '
            f'"from": {{"id": 206, "is_bot": false, "first_name": "{first_name}"}}, "text": "{text}"}}}}')


def test_escaped_surrogates_and_nul_in_raw_json(bot):
    bot.enter(206)
    after = bot.last_index(206)
    lone = inject_json_text(bot, raw_message("\\ud800", "\\ud800\\udfff\\u0000\\ud83d x", 9000))
    assert lone.status_code == 400 and "surrogates not allowed" in lone.text    # cannot become an update
    paired = inject_json_text(bot, raw_message("\\ud83d\\ude00\\u0000", "\\u0000\\ud83d\\ude00\\u001f?", 9001))
    assert paired.status_code == 200, paired.text                        # NUL and an escaped emoji pair: valid
    bot.wait(206, "did not understand", after)                          # handled as unknown text
    bot.ask(206, "menu", "Balance: 0 points")                           # and the bot kept going


def test_forged_and_stolen_callback_data(bot):
    bot.enter(207)
    bot.enter(208)
    bot.ask(ADMIN, "award", "Awarded 300", args="207 300")
    offer = bot.ask(207, "transfer", "(id 208)? Fee", args="208 100")
    stolen = next(b["callback_data"] for row in offer["message"]["reply_markup"]["inline_keyboard"] for b in row
                  if b["callback_data"].startswith("tr:ok:"))
    token = stolen.rpartition("~")[0].split(":")[2]
    forgeries = [
        stolen,                                                        # 208 presses 207's button
        "tr:ok:" + token,                                              # the payload, no signature
        stolen[:-1] + ("A" if stolen[-1] != "A" else "B"),              # a wrong signature
        Signer("another-bot-token").sign(208, "adm:ap:x"),              # signed with another key
        "~",                                                           # nothing at all
        "x" * 64,                                                      # the longest data Telegram allows
        "adm:ap:../../etc~AAAAAAAA",
    ]
    after = bot.last_index(208)
    for data in forgeries:
        bot.press_raw(208, data)
    wait_until(lambda: bot.count(208, "not valid", after) == len(forgeries), 30, what="every forgery refused")
    theft = bot.press(208, "tr:ok:" + token)                           # signed for 208, but 207's token
    bot.wait(208, "expired or was already used", after)
    bot.completed(theft)                                               # its writes, had there been any, are in
    assert bot.balance(207) == 300 and bot.balance(208) == 0
    bot.tap(207, stolen.rpartition("~")[0], "Sent 100 points to 208")  # the owner still can
    bot.wait(208, "You received 98 points")                            # 2 % fee


def test_sender_blocked_flag_is_mirrored_into_the_users_table(bot):
    """A 403 from the Bot API marks the user as having blocked the bot (not banned); writing again clears it."""
    def flags() -> tuple:
        with bot.database() as db:
            return db.execute("SELECT blocked_bot, banned FROM users WHERE id = 230").fetchone()

    bot.enter(230)
    bot.control.set_blocked(TOKEN, 230, True)
    bot.command(230, "menu")                                       # the reply gets 403
    wait_until(lambda: flags() == (1, 0), 30, 0.2, what="blocked_bot set for user 230")
    bot.control.set_blocked(TOKEN, 230, False)
    bot.ask(230, "menu", "Balance")                                # writing again clears the flag
    wait_until(lambda: flags() == (0, 0), 30, 0.2, what="blocked_bot cleared for user 230")
