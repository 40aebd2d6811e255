"""The flood limiter alone: how many broadcast slots a second it grants at a configured rate.

`--senders` coroutines ask for broadcast slots as the sender does (honouring each wait hint, then
"sending" for `--send-ms`), against an embedded Redis, for `--seconds`; the rate is counted from the
first granted slot to the last, so the wait of the coroutines still queued at the end does not count.
It separates the limiter's ceiling from the rest of the pipeline (benchmarks/broadcast_rate.py).
`--pacer`: instead, one loop takes the slots due for up to 100 recipients at a time every 10 ms (or
when the next is due), as the broadcast engine's pages do (BroadcastSlots, BroadcastPacer's timing).

    .venv/bin/python benchmarks/broadcast_limiter.py --rate 1000 --senders 400
    .venv/bin/python benchmarks/broadcast_limiter.py --rate 30 --senders 30
    .venv/bin/python benchmarks/broadcast_limiter.py --rate 1000 --pacer
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botrunner.redis_keys import Keys
from botrunner.sender.broadcast_pacer import MAX_ASK, TICK_S
from botrunner.sender.broadcast_slots import BroadcastSlots
from botrunner.sender.flood_limiter import BROADCAST, FloodLimiter, Limits
from botrunner.supervisor.embedded_redis import EmbeddedRedis


async def measure(url: str, rate: float, senders: int, seconds: float, send_ms: float) -> tuple[float, float]:
    """(granted slots per second, limiter calls per granted slot)."""
    client = aioredis.from_url(url, max_connections=50)
    limiter = FloodLimiter(client, Keys.for_token("1:limiter-bench"), Limits(chat_rate=0, global_rate=rate))
    stamps: list[float] = []
    asks = 0
    stop = time.monotonic() + seconds

    async def sender(n: int) -> None:
        nonlocal asks
        while time.monotonic() < stop:
            status, wait = await limiter.acquire(10_000 + n, True, send_class=BROADCAST)
            asks += 1
            await asyncio.sleep(wait)
            if status == 1:
                stamps.append(time.monotonic())
                await asyncio.sleep(send_ms / 1000)
    try:
        await asyncio.gather(*(sender(n) for n in range(senders)))
    finally:
        await client.aclose()
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]), asks / max(1, len(stamps))


async def measure_pacer(url: str, rate: float, seconds: float) -> tuple[float, float]:
    """(granted slots per second, Redis calls per granted slot) of one pacer loop."""
    client = aioredis.from_url(url)
    slots = BroadcastSlots(FloodLimiter(client, Keys.for_token("1:pacer-bench"), Limits(chat_rate=0, global_rate=rate)))
    stamps: list[float] = []
    asks, chat = 0, 10_000
    stop = time.monotonic() + seconds
    try:
        while time.monotonic() < stop:
            statuses, wait = await slots.take(list(range(chat, chat + MAX_ASK)))
            asks += 1
            chat += len(statuses)
            stamps += [time.monotonic()] * len(statuses)
            if len(statuses) < MAX_ASK:
                await asyncio.sleep(max(TICK_S, wait))
    finally:
        await client.aclose()
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]), asks / max(1, len(stamps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="SEND_GLOBAL_RATE")
    parser.add_argument("--senders", type=int, default=400, help="broadcast sends in flight (the engine: 2 pages)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--send-ms", type=float, default=5.0, help="time a send takes after its slot")
    parser.add_argument("--pacer", action="store_true", help="one pacer taking many slots per call instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="broadcast-limiter-") as tmp:
        redis_server = EmbeddedRedis(tmp).start()
        try:
            if args.pacer:
                granted, calls = asyncio.run(measure_pacer(redis_server.url, args.rate, args.seconds))
            else:
                granted, calls = asyncio.run(measure(redis_server.url, args.rate, args.senders, args.seconds,
                                                     args.send_ms))
        finally:
            redis_server.stop()
    who = "pacer" if args.pacer else args.senders
    print(f"| {args.rate:.0f} | {who} | {granted:.1f} | {100 * granted / args.rate:.1f} % | {calls:.2f} |")


if __name__ == "__main__":
    main()
