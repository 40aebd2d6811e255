"""The benchmark bot on python-telegram-bot: Application.run_polling with concurrent updates on.

    BENCH_SQLITE=... BENCH_STATS_DIR=... python benchmarks/peers/ptb_bot.py API_URL TOKEN

The register call runs inline in the async handler (what a minimal bot does; SQLite in WAL mode with
synchronous=NORMAL does not fsync per insert).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from benchmarks.peers.bench_store import RoundTripReport, open_store, register


def main(api_url: str, token: str) -> None:
    store = open_store()
    report = RoundTripReport(store)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(register(store, update.effective_user))
        report.count()

    app = (Application.builder().token(token).base_url(f"{api_url}/bot").base_file_url(f"{api_url}/file/bot")
           .concurrent_updates(True).build())
    app.add_handler(CommandHandler("start", start))
    app.run_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2])
