"""The real getChatMember client (handlers/bot_api.py) against the local Bot API server: member, not a
member, an error reply and a timeout, and what the channel task tells the user in each case. The
handler harness's FakeApi stands in for it elsewhere; here the real one runs."""
from __future__ import annotations

import pytest

from handlers.bot_api import BotApi
from tests.handlers.harness import joined

TOKEN = "123456:handler-test"          # the handler tests' BOT_TOKEN
CHANNEL = -1001234


@pytest.fixture
def channel(emulator):
    """The required channel @news on the local server, and users 1 and 2 known to it."""
    _, control = emulator
    control.set_chat(TOKEN, CHANNEL, type="channel", title="News", username="news")
    for user in (1, 2):
        control.inject_message(TOKEN, user, "hi")
    return control


def client(emulator, timeout_s: float = 10.0) -> BotApi:
    emu, _ = emulator
    return BotApi(emu.url, TOKEN, timeout_s)


def test_is_member_reads_the_status(emulator, channel):
    api = client(emulator)
    try:
        channel.set_member(TOKEN, CHANNEL, 1, "member")
        channel.set_member(TOKEN, CHANNEL, 2, "left")
        assert api.is_member("@news", 1) is True and api.is_member(CHANNEL, 1) is True
        assert api.is_member("@news", 2) is False
        channel.set_member(TOKEN, CHANNEL, 2, "administrator")
        assert api.is_member("@news", 2) is True
    finally:
        api.close()


def test_an_error_reply_or_a_timeout_is_unknown_not_false(emulator, channel):
    channel.set_member(TOKEN, CHANNEL, 1, "member")
    api, impatient = client(emulator), client(emulator, timeout_s=1.0)
    try:
        channel.add_fault("getChatMember", error_code=500, times=1, token=TOKEN)
        assert api.is_member("@news", 1) is None
        channel.add_fault("getChatMember", delay=5, times=1, token=TOKEN)       # hung longer than the timeout
        assert impatient.is_member("@news", 1) is None
        assert api.is_member("@news", 1) is True                                # and fine again after
    finally:
        api.close()
        impatient.close()


def test_writes_are_refused_from_a_handler(emulator):
    api = client(emulator)
    try:
        with pytest.raises(ValueError, match="must be queued"):
            api.call("sendMessage", chat_id=1, text="x")
    finally:
        api.close()


def test_the_channel_task_says_try_again_when_telegram_cannot_be_asked(bot, emulator, channel):
    patient, impatient = client(emulator), client(emulator, timeout_s=1.0)
    try:
        bot.join(1)
        channel.set_member(TOKEN, CHANNEL, 1, "member")
        bot.rt.api = patient
        channel.add_fault("getChatMember", error_code=502, times=1, token=TOKEN)
        assert "try again" in joined(bot.click(1, "task:d:channel"))
        bot.rt.api = impatient
        channel.add_fault("getChatMember", delay=5, times=1, token=TOKEN)
        assert "try again" in joined(bot.click(1, "task:d:channel"))
        assert bot.rt.store.points.balance(1) == 0                   # nothing paid on an unknown answer
        bot.rt.api = patient
        assert "+10" in joined(bot.click(1, "task:d:channel"))
        assert bot.rt.store.points.balance(1) == 10
    finally:
        patient.close()
        impatient.close()
