"""The benchmark bot as a bare loop: aiohttp + uvloop, getUpdates and one task per update, nothing else.

    BENCH_SQLITE=... BENCH_STATS_DIR=... python benchmarks/peers/aiohttp_bot.py API_URL TOKEN

No framework, no parsing into objects, no durability: the floor of what any Python bot costs on this
machine (the issue's "bare aiohttp loop"). The register call runs inline, as in the other peers.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp
import uvloop

from benchmarks.peers.bench_store import RoundTripReport, open_store, register

USER_FIELDS = ("id", "username", "first_name", "last_name", "language_code", "is_premium")


async def answer(session: aiohttp.ClientSession, base: str, store, report: RoundTripReport,
                 message: dict[str, Any]) -> None:
    sender = message.get("from") or {}
    user = SimpleNamespace(**{name: sender.get(name) for name in USER_FIELDS})
    text = register(store, user)
    async with session.post(f"{base}/sendMessage", json={"chat_id": message["chat"]["id"], "text": text}) as reply:
        await reply.read()
    report.count()


async def main(api_url: str, token: str) -> None:
    store = open_store()
    report = RoundTripReport(store)
    base = f"{api_url}/bot{token}"
    offset = 0
    tasks: set[asyncio.Task] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        while True:
            async with session.post(f"{base}/getUpdates", json={"offset": offset, "timeout": 10, "limit": 100}) as r:
                updates = (await r.json())["result"]
            for update in updates:
                offset = update["update_id"] + 1
                message = update.get("message")
                if message and str(message.get("text", "")).startswith("/start"):
                    task = asyncio.create_task(answer(session, base, store, report, message))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1].rstrip("/"), sys.argv[2]))
