"""Every emulated method through python-telegram-bot 22's Bot, over real HTTP."""
from __future__ import annotations

import asyncio
import time

import pytest
import telegram
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Claim", callback_data="claim")]])


def ptb_bot(url: str, token: str) -> telegram.Bot:
    return telegram.Bot(token, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")


async def _messaging(url: str, token: str, control, user: int) -> None:
    async with ptb_bot(url, token) as bot:
        assert bot.id == int(token.split(":")[0]) and bot.username.endswith("_bot")
        updates = await bot.get_updates(timeout=0)
        assert updates[0].message.text == "hello" and updates[0].message.from_user.id == user

        sent = await bot.send_message(user, "<b>Welcome</b>", parse_mode=ParseMode.HTML, reply_markup=KEYBOARD)
        assert (sent.text, sent.entities[0].type, sent.reply_markup) == ("Welcome", "bold", KEYBOARD)
        assert sent.from_user.id == bot.id and sent.chat.id == user

        edited = await bot.edit_message_text("Edited", chat_id=user, message_id=sent.message_id, reply_markup=KEYBOARD)
        assert edited.text == "Edited" and edited.edit_date is not None
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("Edited", chat_id=user, message_id=sent.message_id, reply_markup=KEYBOARD)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", chat_id=user, message_id=999)
        plain = await bot.edit_message_reply_markup(chat_id=user, message_id=sent.message_id, reply_markup=None)
        assert plain.reply_markup is None

        injected = await asyncio.to_thread(control.inject_callback, token, user, sent.message_id, "claim")
        updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=5)
        query = updates[0].callback_query
        assert (query.data, query.message.message_id, query.id) == ("claim", sent.message_id,
                                                                    injected["callback_query_id"])
        assert await bot.answer_callback_query(query.id, text="Claimed") is True
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(query.id)

        assert await bot.send_chat_action(user, "typing") is True
        assert await bot.delete_message(user, sent.message_id) is True
        with pytest.raises(BadRequest, match="Message to delete not found"):
            await bot.delete_message(user, sent.message_id)
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(123456789, "x")


def test_messaging_and_callbacks(emulator, control, token, user):
    asyncio.run(_messaging(emulator.url, token, control, user))


async def _files_members_commands(url: str, token: str, control, user: int) -> None:
    async with ptb_bot(url, token) as bot:
        photo = await bot.send_photo(user, photo=b"\x89PNG\r\n\x1a\nfake", caption="pic")
        assert len(photo.photo) >= 2 and photo.caption == "pic"
        again = await bot.send_photo(user, photo=photo.photo[-1].file_id)
        assert again.photo[-1].file_id == photo.photo[-1].file_id

        document = await bot.send_document(user, document=b"a,b\n1,2\n", filename="export.csv")
        assert document.document.file_name == "export.csv" and document.document.file_size == 8
        file = await bot.get_file(document.document.file_id)
        assert bytes(await file.download_as_bytearray()) == b"a,b\n1,2\n"

        await asyncio.to_thread(control.set_member, token, -1005555, user, "administrator", chat_type="channel")
        member = await bot.get_chat_member(-1005555, user)
        assert member.status == ChatMemberStatus.ADMINISTRATOR
        await asyncio.to_thread(control.set_member, token, -1005555, user, "kicked")
        assert (await bot.get_chat_member(-1005555, user)).status == ChatMemberStatus.BANNED
        await asyncio.to_thread(control.set_member, token, -1005555, user, "restricted")
        assert (await bot.get_chat_member(-1005555, user)).status == ChatMemberStatus.RESTRICTED
        assert (await bot.get_chat_member(-1005555, 31337)).status == ChatMemberStatus.LEFT

        commands = [BotCommand("start", "Start"), BotCommand("balance", "Your points")]
        assert await bot.set_my_commands(commands) is True
        assert tuple(await bot.get_my_commands()) == tuple(commands)
        chat = await bot.get_chat(user)
        assert chat.id == user and chat.type == "private"


def test_files_members_commands(emulator, control, token, user):
    asyncio.run(_files_members_commands(emulator.url, token, control, user))


async def _errors(url: str, token: str, control, user: int) -> None:
    async with ptb_bot(url, token) as bot:
        await asyncio.to_thread(lambda: control.add_fault("sendMessage", 429, retry_after=3, token=token))
        with pytest.raises(RetryAfter) as retry:
            await bot.send_message(user, "x")
        assert "Retry in 3 seconds" in retry.value.message     # read from parameters.retry_after
        await asyncio.to_thread(control.set_blocked, token, user)
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(user, "x")
        held = asyncio.create_task(bot.get_updates(offset=100, timeout=10))
        await asyncio.sleep(0.5)
        async with ptb_bot(url, token) as second:
            await second.get_updates(offset=100, timeout=0)
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await held


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_errors_map_to_ptb_exceptions(emulator, control, token, user):
    asyncio.run(_errors(emulator.url, token, control, user))


async def _webhook(url: str, token: str) -> None:
    async with ptb_bot(url, token) as bot:
        assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="abc", max_connections=5) is True
        info = await bot.get_webhook_info()
        assert (info.url, info.max_connections) == ("http://127.0.0.1:9/hook", 5)
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook() is True
        assert (await bot.get_webhook_info()).url == ""


def test_webhook_methods(emulator, token):
    asyncio.run(_webhook(emulator.url, token))


async def _long_poll(url: str, token: str, control) -> float:
    async with ptb_bot(url, token) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=20))
        await asyncio.sleep(0.4)
        await asyncio.to_thread(control.inject_command, token, 8001, "start", "ref_42")
        released = time.monotonic()
        updates = await asyncio.wait_for(poll, 10)
        assert updates[0].message.text == "/start ref_42"
        assert updates[0].message.entities[0].type == "bot_command"
        return time.monotonic() - released


def test_long_poll_through_ptb(emulator, control, token):
    assert asyncio.run(_long_poll(emulator.url, token, control)) < 2.0
