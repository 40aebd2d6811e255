"""CPU per Bot API call on the worker's lean send path: the client process's CPU time per sendMessage
(and per sendPhoto with a captcha-sized upload) through `BotApiClient.call`, the JsonCaller on the pooled
aiohttp session the worker uses, on uvloop, `--concurrency` calls in flight like a worker's chats.

Starts `botrunner emulator` (its own process: the server's CPU is not counted), creates the chats, then
runs each sample in a fresh client process: warm-up, then `--calls` calls timed with time.process_time.
With `--baseline CHECKOUT` (another checkout with its own .venv) the samples of both trees alternate
(ABBA order), so the machine's load hits both alike; the medians are printed (or `--json`).
`--instructions` counts instructions instead (valgrind's callgrind, which other processes' load does not
change): a sample is two runs, 300 and 300 + `--calls` calls, and their difference per call. With one call
in flight (`--concurrency 1`) the count repeats within about 1 %; with many, how the answers bunch up per
event-loop turn moves it by several per cent.

    .venv/bin/python benchmarks/send_cpu.py [--repeats 7] [--calls 4000] [--concurrency 32]
        [--methods sendMessage sendPhoto] [--baseline CHECKOUT] [--json]
    .venv/bin/python benchmarks/send_cpu.py --instructions --concurrency 1 --calls 1000 --repeats 2 ...
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
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
        cpu, system, wall = time.process_time(), os.times().system, time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(calls)))
        cpu, system, wall = time.process_time() - cpu, os.times().system - system, time.perf_counter() - wall
    finally:
        await client.close()
    return {"cpu_us": cpu / calls * 1e6, "system_us": system / calls * 1e6, "wall_us": wall / calls * 1e6}


def child(args: argparse.Namespace) -> None:
    """A sample process: imports botrunner from the interpreter's own checkout (no sys.path changes)."""
    import uvloop
    print(json.dumps(uvloop.run(sample(args.url, args.method, args.calls, args.concurrency))))


def run_sample(python: Path, url: str, method: str, args: argparse.Namespace) -> dict[str, float]:
    """One sample in a fresh process of `python`'s checkout: CPU (or instruction) figures per call."""
    if args.instructions:
        warm, timed = (instructions(python, url, method, n, args) for n in (300, 300 + args.calls))
        return {"instructions": (timed - warm) / args.calls}
    return json.loads(run_child([str(python)], url, method, args.calls, args).stdout.strip().splitlines()[-1])


def run_child(prefix: list[str], url: str, method: str, calls: int,
              args: argparse.Namespace) -> subprocess.CompletedProcess[str]:
    python = Path(prefix[-1])
    command = [*prefix, str(Path(__file__).resolve()), "--child", "--url", url, "--method", method,
               "--calls", str(calls), "--concurrency", str(args.concurrency)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=python.parents[2],
                         env={**os.environ, "PYTHONHASHSEED": "0"})
    if out.returncode != 0:
        raise SystemExit(f"sample failed ({python}):\n{out.stderr[-3000:]}")
    return out


def instructions(python: Path, url: str, method: str, calls: int, args: argparse.Namespace) -> int:
    """Instructions the whole client process ran (start-up, warm-up and `calls` calls), by callgrind."""
    with tempfile.TemporaryDirectory(prefix="send-cpu-") as directory:
        out = run_child(["valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/callgrind.out",
                         str(python)], url, method, calls, args)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind:\n{out.stderr[-3000:]}")
    return int(found.group(1))


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
                if args.json:
                    continue
                if args.instructions:
                    print(f"  {tree:<8} {method:<11} {result['instructions']:9.0f} instructions/call", flush=True)
                else:
                    print(f"  {tree:<8} {method:<11} {result['cpu_us']:6.1f} us CPU/call "
                          f"({result['wall_us']:5.1f} us wall)", flush=True)
    return samples


def summary(samples: dict[str, dict[str, list[dict[str, float]]]], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": args.calls, "repeats": args.repeats, "concurrency": args.concurrency,
                           "load_average": os.getloadavg(), "trees": {}}
    figure = "instructions" if args.instructions else "cpu_us"
    for tree, methods in samples.items():
        out["trees"][tree] = {m: {f"{figure}_median": statistics.median(s[figure] for s in runs),
                                  figure: [round(s[figure], 1) for s in runs]}
                              for m, runs in methods.items()}
        if not args.instructions:
            for m, runs in methods.items():
                for part in ("system_us", "wall_us"):          # system: the kernel's share of cpu_us
                    out["trees"][tree][m][f"{part}_median"] = statistics.median(s[part] for s in runs)
    return out


def print_summary(result: dict[str, Any]) -> None:
    counted = "instructions" in next(iter(next(iter(result["trees"].values())).values()))
    figure, unit = ("instructions", "instructions") if counted else ("cpu_us", "us CPU")
    print(f"\nClient {unit} per call, {result['calls']} calls x {result['repeats']} fresh processes, "
          f"{result['concurrency']} in flight, uvloop; load average {result['load_average'][0]:.2f}:")
    for tree, methods in result["trees"].items():
        for method, row in methods.items():
            kernel = "" if counted else f", of which {row['system_us_median']:.1f} us in the kernel"
            print(f"  {tree:<8} {method:<11} median {row[figure + '_median']:9.1f} {unit} "
                  f"(min {min(row[figure]):.1f}, max {max(row[figure]):.1f}){kernel}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--methods", nargs="+", default=["sendMessage", "sendPhoto"],
                        choices=["sendMessage", "sendPhoto"])
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout with its own .venv")
    parser.add_argument("--instructions", action="store_true", help="count instructions (valgrind) instead")
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
