"""CPU per Bot API call on the worker's lean send path: the client process's CPU time per sendMessage
(and per sendPhoto with a captcha-sized upload) through `BotApiClient.call`, the JsonCaller on the pooled
aiohttp session the worker uses, on uvloop, `--concurrency` calls in flight like a worker's chats.

Starts `botrunner emulator` (its own process: the server's CPU is not counted), creates the chats, then
runs each sample in a fresh client process: warm-up, then `--calls` calls timed with time.process_time.
With `--baseline CHECKOUT` (another checkout with its own .venv) the samples of both trees alternate
(ABBA order), so the machine's load hits both alike; the medians are printed (or `--json`).

    .venv/bin/python benchmarks/send_cpu.py [--repeats 7] [--calls 4000] [--concurrency 32]
        [--methods sendMessage sendPhoto] [--baseline CHECKOUT] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TOKEN = "424243:send-cpu"
FIRST_CHAT = 200_000
CHATS = 500
ROOT = Path(__file__).resolve().parents[1]
PHOTO = os.urandom(12_000)            # about a captcha picture's size; the server keeps the bytes as they are


def params_of(method: str, n: int) -> dict[str, Any]:
    """The n-th call's params: a short reply with a one-button keyboard (like /start's), or a captcha photo."""
    chat = FIRST_CHAT + n % CHATS
    markup = {"inline_keyboard": [[{"text": "Join", "callback_data": f"join:{n}"}]]}
    if method == "sendPhoto":
        return {"chat_id": chat, "photo": ("captcha.png", PHOTO), "caption": f"Solve it ({n})", "reply_markup": markup}
    return {"chat_id": chat, "text": f"Welcome! Your code is {n}.", "reply_markup": markup}


async def sample(base: str, method: str, calls: int, concurrency: int) -> dict[str, float]:
    """One client, warmed up; CPU and wall microseconds per call over `calls` calls."""
    from botrunner.sender.client import BotApiClient
    client = BotApiClient(base, TOKEN, pool_size=100)
    await client.open()
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await client.call(method, params_of(method, n))
    try:
        await asyncio.gather(*(one(n) for n in range(min(300, calls))))      # connections, caches
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(calls)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await client.close()
    return {"cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6}


def child(args: argparse.Namespace) -> None:
    """A sample process: imports botrunner from the interpreter's own checkout (no sys.path changes)."""
    import uvloop
    print(json.dumps(uvloop.run(sample(args.url, args.method, args.calls, args.concurrency))))


def run_sample(python: Path, url: str, method: str, args: argparse.Namespace) -> dict[str, float]:
    command = [str(python), str(Path(__file__).resolve()), "--child", "--url", url, "--method", method,
               "--calls", str(args.calls), "--concurrency", str(args.concurrency)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=python.parents[2])
    if out.returncode != 0:
        raise SystemExit(f"sample failed ({python}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_chats(url: str) -> None:
    """The token's state forgotten (what earlier samples sent, photos too), then its chats made again: a
    chat exists once its user wrote to the bot (else 'chat not found')."""
    from botrunner.emulator.client import ControlClient
    with ControlClient(url, timeout=60) as control:
        control.reset(TOKEN)
        control.inject_batch(TOKEN, [{"user_id": FIRST_CHAT + i, "text": "hi"} for i in range(CHATS)])


def measure(args: argparse.Namespace, url: str) -> dict[str, dict[str, list[dict[str, float]]]]:
    """{tree: {method: [samples]}}, the trees' samples alternating ABBA within each repeat pair."""
    trees = {"this": Path(sys.executable)}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve() / ".venv" / "bin" / "python"
    samples: dict[str, dict[str, list[dict[str, float]]]] = {t: {m: [] for m in args.methods} for t in trees}
    for repeat in range(args.repeats):
        order = list(trees) if repeat % 2 == 0 else list(reversed(trees))
        for method in args.methods:
            for tree in order:
                fresh_chats(url)
                result = run_sample(trees[tree], url, method, args)
                samples[tree][method].append(result)
                if not args.json:
                    print(f"  {tree:<8} {method:<11} {result['cpu_us']:6.1f} us CPU/call "
                          f"({result['wall_us']:5.1f} us wall)", flush=True)
    return samples


def summary(samples: dict[str, dict[str, list[dict[str, float]]]], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": args.calls, "repeats": args.repeats, "concurrency": args.concurrency,
                           "load_average": os.getloadavg(), "trees": {}}
    for tree, methods in samples.items():
        out["trees"][tree] = {m: {"cpu_us_median": statistics.median(s["cpu_us"] for s in runs),
                                  "cpu_us": [round(s["cpu_us"], 1) for s in runs],
                                  "wall_us_median": statistics.median(s["wall_us"] for s in runs)}
                              for m, runs in methods.items()}
    return out


def print_summary(result: dict[str, Any]) -> None:
    print(f"\nClient CPU per call, {result['calls']} calls x {result['repeats']} fresh processes, "
          f"{result['concurrency']} in flight, uvloop; load average {result['load_average'][0]:.2f}:")
    for tree, methods in result["trees"].items():
        for method, row in methods.items():
            print(f"  {tree:<8} {method:<11} median {row['cpu_us_median']:6.1f} us "
                  f"(min {min(row['cpu_us']):.1f}, max {max(row['cpu_us']):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--methods", nargs="+", default=["sendMessage", "sendPhoto"],
                        choices=["sendMessage", "sendPhoto"])
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout with its own .venv")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from botrunner.tools.local_runs import start_emulator, stop
    server, url = start_emulator()
    try:
        result = summary(measure(args, url), args)
    finally:
        stop(server)
    print(json.dumps(result, indent=2)) if args.json else print_summary(result)


if __name__ == "__main__":
    main()
