"""The Mini App API under load on one worker's HTTP server: session + verify round trips.

    .venv/bin/python benchmarks/miniapp_api.py                  # 200 users, 20 at a time
    .venv/bin/python benchmarks/miniapp_api.py --users 500 --concurrency 50

In process: an embedded redis-server, the workers' HTTP server with only the Mini App mounted (as
a worker starts it), and an httpx client acting as N users, each asking for a challenge and
answering it (the test reads the target from Redis, as a person reads the picture). Reports the
latency of both calls (p50/p95/max), completed verifications per second, and the event loop's
worst stall while it ran (a 5 ms ticker on the server's loop): the slider image is drawn in a
thread, so sessions should not stall the loop the webhook intake shares. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botrunner.config.settings import load_settings
from botrunner.redis_keys import Keys
from botrunner.supervisor.embedded_redis import EmbeddedRedis
from botrunner.web.env import WebEnv
from botrunner.web.server import start_web
from tests.conftest import free_port
from tests.miniapp.live import human_trace, sign_init_data

TOKEN = "123456:bench-miniapp"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def stall_meter(stop: asyncio.Event, worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.005)
        worst[0] = max(worst[0], loop.time() - before - 0.005)


async def run(users: int, concurrency: int, redis_url: str) -> dict:
    port = free_port()
    settings = load_settings(environ={
        "BOT_TOKEN": TOKEN, "REDIS_URL": redis_url, "WEB_LISTEN": f"127.0.0.1:{port}", "LANES": "16",
        "MINIAPP_URL": "https://mini.example.org/miniapp/", "FINGERPRINT_SALT": "bench",
        "MINIAPP_RATE_LIMIT_MAX": "1000000", "MINIAPP_REGISTRATIONS_PER_IP_PER_DAY": "0",
        "MINIAPP_ATTEMPTS_PER_IP": "100000"}, env_file=None)
    keys = Keys.for_token(TOKEN)
    client = aioredis.Redis.from_url(redis_url)
    server = await start_web(WebEnv(settings, client, keys, "bench:1:x"))
    assert server is not None
    base = f"http://127.0.0.1:{port}/miniapp/api"
    sessions: list[float] = []
    verifies: list[float] = []
    failures = 0
    gate = asyncio.Semaphore(concurrency)
    stop, worst = asyncio.Event(), [0.0]
    meter = asyncio.create_task(stall_meter(stop, worst))

    async def one(http: httpx.AsyncClient, uid: int) -> None:
        nonlocal failures
        async with gate:
            init = sign_init_data(uid, token=TOKEN)
            t0 = time.perf_counter()
            challenge = (await http.post(f"{base}/session", json={"init_data": init})).json()
            sessions.append(time.perf_counter() - t0)
            target = json.loads(await client.get(f"{keys.prefix}miniapp:challenge:{challenge['challenge_id']}"))["target"]
            t1 = time.perf_counter()
            answer = await http.post(f"{base}/verify", json={
                "init_data": init, "challenge_id": challenge["challenge_id"], "position": target,
                "trace": human_trace(target), "fingerprint": {"user_agent": f"bench {uid}", "canvas": str(uid)}})
            verifies.append(time.perf_counter() - t1)
            failures += answer.status_code != 200

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:
        await asyncio.gather(*(one(http, 10_000 + n) for n in range(users)))
    elapsed = time.perf_counter() - started
    stop.set()
    await meter
    await server.stop()
    await client.aclose()
    return {"users": users, "concurrency": concurrency, "per_s": users / elapsed, "failures": failures,
            "session_p50": statistics.median(sessions) * 1000, "session_p95": pct(sessions, 0.95) * 1000,
            "verify_p50": statistics.median(verifies) * 1000, "verify_p95": pct(verifies, 0.95) * 1000,
            "max_ms": max(sessions + verifies) * 1000, "stall_ms": worst[0] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="miniapp-bench-") as directory:
        embedded = EmbeddedRedis(directory).start()
        try:
            r = asyncio.run(run(args.users, args.concurrency, embedded.url))
        finally:
            embedded.stop()
    print("| users | concurrent | verified/s | session p50 / p95 ms | verify p50 / p95 ms | max ms | "
          "worst loop stall ms | failures |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {r['users']} | {r['concurrency']} | {r['per_s']:.0f} | {r['session_p50']:.1f} / {r['session_p95']:.1f} | "
          f"{r['verify_p50']:.1f} / {r['verify_p95']:.1f} | {r['max_ms']:.0f} | {r['stall_ms']:.1f} | {r['failures']} |")


if __name__ == "__main__":
    main()
