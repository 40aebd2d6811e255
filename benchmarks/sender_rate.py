"""Send rate of one worker's sender with flood limits lifted: how many Bot API calls per second a
worker pushes through the Redis limiter (and the outbox journal) to a local Bot API server.

Starts `botrunner emulator` (own process) and a private redis-server, then, in this process on
uvloop (one worker's event loop), sends `--sends` sendMessage calls to `--chats` chats with
`--concurrency` in flight, in four modes: the bare PTB client on httpx (PTB's default transport),
the bare client on aiohttp, client + limiter, client + limiter + journal (`deliver`, one update per
call, which is what a worker does). Prints sends/s per mode (median of `--runs`).

    .venv/bin/python benchmarks/sender_rate.py [--runs 3] [--sends 3000] [--chats 1000] [--concurrency 64]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis.asyncio as aioredis
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.emulator_throughput import free_port, start_server
from botrunner.redis_keys import Keys
from botrunner.sender.client import BotApiClient
from botrunner.sender.flood_limiter import FloodLimiter, Limits
from botrunner.sender.journal import OutboxJournal
from botrunner.sender.sender import Sender
from botrunner.supervisor.embedded_redis import EmbeddedRedis

TOKEN = "424242:sender-rate"
FIRST_CHAT = 100_000


def make_chats(base: str, chats: int) -> None:
    """Chats exist once their user wrote to the bot (else 'chat not found')."""
    with httpx.Client(base_url=base, timeout=60) as control:
        for start in range(0, chats, 1000):
            items = [{"user_id": FIRST_CHAT + i, "text": "hi"} for i in range(start, min(chats, start + 1000))]
            control.post("/__control/inject/batch", json={"token": TOKEN, "items": items}).raise_for_status()


async def measure(mode: str, base: str, redis_url: str, sends: int, chats: int, concurrency: int) -> float:
    """sends/s of one mode."""
    client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=64))
    keys = Keys.for_token(TOKEN)
    api = BotApiClient(base, TOKEN, pool_size=100, transport="httpx" if mode == "client-httpx" else "aiohttp")
    sender = Sender(api, FloodLimiter(client, keys, Limits(enabled=False)), OutboxJournal(client, keys))
    await sender.open()
    gate = asyncio.Semaphore(concurrency)
    first_update = int(time.time() * 1000) * 10_000      # fresh update ids: a journaled id would be skipped

    async def one(n: int) -> None:
        params = {"chat_id": FIRST_CHAT + n % chats, "text": f"message {n}"}     # n: unique per call
        async with gate:
            if mode.startswith("client"):
                await api.call("sendMessage", params)
            elif mode == "limiter":
                assert (await sender.send_call("sendMessage", params))[0] == "sent"
            else:
                update = {"update_id": first_update + n, "message": {"from": {"id": params["chat_id"]}}}
                await sender.deliver(first_update + n, update, [("sendMessage", params)])
                assert sender.metrics.skipped_journal == 0
    await asyncio.gather(*(one(sends + n) for n in range(min(200, sends))))    # warm-up: connections, scripts
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(sends)))
    rate = sends / (time.perf_counter() - started)
    await sender.close()
    await client.aclose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    port = free_port()
    server = start_server(port)
    base = f"http://127.0.0.1:{port}"
    modes = ["client-httpx", "client-aiohttp", "limiter", "limiter+journal"]
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        make_chats(base, args.chats)
        with tempfile.TemporaryDirectory(prefix="sender-rate-") as directory:
            redis_server = EmbeddedRedis(directory).start()
            try:
                for _ in range(args.runs):           # interleaved, so machine noise hits every mode alike
                    for mode in modes:
                        rate = uvloop.run(measure(mode, base, redis_server.url, args.sends, args.chats,
                                                  args.concurrency))
                        results[mode].append(rate)
                        print(f"  {mode:<16} {rate:8.0f} sends/s", flush=True)
            finally:
                redis_server.stop()
    finally:
        server.terminate()
        server.wait(10)
    print(f"\nSender, one worker (one process, uvloop), limits lifted, {args.sends} sendMessage to {args.chats} "
          f"chats, {args.concurrency} in flight, median of {args.runs}:")
    for mode in modes:
        print(f"  {mode:<16} {statistics.median(results[mode]):8.0f} sends/s")


if __name__ == "__main__":
    main()
