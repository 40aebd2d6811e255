"""The benchmark bot on aiogram 3: Dispatcher.start_polling with its defaults (updates handled as tasks).

    BENCH_SQLITE=... BENCH_STATS_DIR=... python benchmarks/peers/aiogram_bot.py API_URL TOKEN

The register call runs inline in the async handler, as in the python-telegram-bot bot.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandStart
from aiogram.types import Message

from benchmarks.peers.bench_store import RoundTripReport, open_store, register


async def main(api_url: str, token: str) -> None:
    store = open_store()
    report = RoundTripReport(store)
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(register(store, message.from_user))
        report.count()

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    await dispatcher.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1].rstrip("/"), sys.argv[2]))
