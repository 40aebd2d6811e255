"""Every emulated method through aiogram 3's Bot (multipart requests), over real HTTP."""
from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BotCommand, BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Claim", callback_data="claim")]])


@contextlib.asynccontextmanager
async def aiogram_bot(url: str, token: str):
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))
    try:
        yield bot
    finally:
        await bot.session.close()


async def _messaging(url: str, token: str, control, user: int) -> None:
    async with aiogram_bot(url, token) as bot:
        me = await bot.get_me()
        assert me.id == int(token.split(":")[0]) and me.is_bot
        updates = await bot.get_updates(timeout=0)
        assert updates[0].message.text == "hello"

        sent = await bot.send_message(user, "*Welcome*", parse_mode="MarkdownV2", reply_markup=KEYBOARD)
        assert (sent.text, sent.entities[0].type) == ("Welcome", "bold")
        assert sent.reply_markup.model_dump(exclude_none=True) == KEYBOARD.model_dump(exclude_none=True)
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(user, "Welcome.", parse_mode="MarkdownV2")

        edited = await bot.edit_message_text(text="Edited", chat_id=user, message_id=sent.message_id,
                                             reply_markup=KEYBOARD)
        assert edited.text == "Edited"
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text(text="Edited", chat_id=user, message_id=sent.message_id,
                                        reply_markup=KEYBOARD)
        stripped = await bot.edit_message_reply_markup(chat_id=user, message_id=sent.message_id)
        assert stripped.reply_markup is None

        await asyncio.to_thread(control.inject_callback, token, user, sent.message_id, "claim")
        updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=5)
        query = updates[0].callback_query
        assert query.data == "claim" and query.message.message_id == sent.message_id
        assert await bot.answer_callback_query(query.id, text="ok") is True
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query(query.id)

        assert await bot.send_chat_action(user, "upload_document") is True
        assert await bot.delete_message(user, sent.message_id) is True
        with pytest.raises(TelegramBadRequest, match="message to delete not found"):
            await bot.delete_message(user, sent.message_id)


def test_messaging_and_callbacks(emulator, control, token, user):
    asyncio.run(_messaging(emulator.url, token, control, user))


async def _files_members_commands(url: str, token: str, control, user: int) -> None:
    async with aiogram_bot(url, token) as bot:
        photo = await bot.send_photo(user, BufferedInputFile(b"\x89PNG\r\n\x1a\nfake", "p.png"), caption="pic")
        assert len(photo.photo) >= 2 and photo.caption == "pic"
        again = await bot.send_photo(user, photo.photo[-1].file_id)
        assert again.photo[-1].file_id == photo.photo[-1].file_id

        csv = b"user_id,points\n1,100\n"
        document = await bot.send_document(user, BufferedInputFile(csv, "export.csv"))
        assert document.document.file_name == "export.csv"
        downloaded = await bot.download(document.document.file_id)
        assert downloaded.read() == csv
        assert await asyncio.to_thread(control.file, token, document.document.file_id) == csv

        await asyncio.to_thread(control.set_member, token, -1006666, user, "creator", chat_type="supergroup")
        assert (await bot.get_chat_member(-1006666, user)).status == "creator"
        await asyncio.to_thread(control.set_member, token, -1006666, user, "left")
        assert (await bot.get_chat_member(-1006666, user)).status == "left"

        await bot.set_my_commands([BotCommand(command="start", description="Start")])
        assert [c.command for c in await bot.get_my_commands()] == ["start"]


def test_files_members_commands(emulator, control, token, user):
    asyncio.run(_files_members_commands(emulator.url, token, control, user))


async def _errors_and_webhook(url: str, token: str, control, user: int) -> None:
    async with aiogram_bot(url, token) as bot:
        await asyncio.to_thread(lambda: control.add_fault("sendMessage", 429, retry_after=2, token=token))
        with pytest.raises(TelegramRetryAfter) as retry:
            await bot.send_message(user, "x")
        assert retry.value.retry_after == 2
        await asyncio.to_thread(control.set_blocked, token, user)
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(user, "x")

        assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="abc") is True
        assert (await bot.get_webhook_info()).url == "http://127.0.0.1:9/hook"
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook() is True


def test_errors_and_webhook(emulator, control, token, user):
    asyncio.run(_errors_and_webhook(emulator.url, token, control, user))


async def _long_poll_and_conflict(url: str, token: str, control) -> float:
    async with aiogram_bot(url, token) as bot, aiogram_bot(url, token) as second:
        held = asyncio.create_task(bot.get_updates(timeout=20))
        await asyncio.sleep(0.4)
        replacement = asyncio.create_task(second.get_updates(timeout=20))
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
            await asyncio.wait_for(held, 5)
        await asyncio.to_thread(control.inject_message, token, 8101, "for the survivor")
        released = time.monotonic()
        updates = await asyncio.wait_for(replacement, 5)
        assert updates[0].message.text == "for the survivor"
        return time.monotonic() - released


def test_long_poll_and_conflict(emulator, control, token):
    assert asyncio.run(_long_poll_and_conflict(emulator.url, token, control)) < 2.0
