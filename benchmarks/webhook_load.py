"""Webhook intake against its targets: the guide's webhook load test on the airdrop bot.

    .venv/bin/python benchmarks/webhook_load.py                 # 4 workers, 5 measured runs
    .venv/bin/python benchmarks/webhook_load.py --repeats 3 --workers 2 --no-write

Real processes: the local Bot API server (`botrunner emulator`), and `botrunner start` in webhook
mode (USE_WEBHOOK=true, the airdrop bot, its embedded Redis and SQLite, the HTTP server's limits at
their defaults; SEND_LIMITS=false because the local server has no flood limits to respect). Each
run is `botrunner loadtest --webhook URL --secret S --api-url ... --json` (new users every run),
after one warm-up run. The medians go into docs/benchmarks.md between the webhook markers, which
benchmarks/report.py keeps when it rewrites the file.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from botrunner.tools.local_runs import free_port, spawn, start_emulator, stop, wait_until  # noqa: E402

BEGIN, END = "<!-- webhook-load:begin -->", "<!-- webhook-load:end -->"
TARGETS = [("webhook success", "webhook", "success_rate", ">= 99.9 %"), ("webhook p95 ms", "webhook", "p95_ms", "< 50"),
           ("webhook p99 ms", "webhook", "p99_ms", "< 100"), ("reply p99 ms", "replies", "p99_ms", "< 500")]


def loadtest(url: str, secret: str, api_url: str, first_id: int, requests: int) -> dict:
    """One `botrunner loadtest --webhook ... --json` run as a process; its JSON result."""
    command = [sys.executable, "-m", "botrunner", "loadtest", "--webhook", url, "--secret", secret,
               "--api-url", api_url, "--first-user-id", str(first_id), "--requests", str(requests), "--json"]
    env = {**os.environ, "BOTRUNNER_ENV_FILE": "/nonexistent.env"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    if not done.stdout.strip():
        raise RuntimeError(f"botrunner loadtest failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def measure(workers: int, repeats: int, directory: Path, extra: dict[str, str]) -> list[dict]:
    emulator, api_url = start_emulator(directory / "emulator.log")
    port, secret = free_port(), secrets.token_urlsafe(32)
    url = f"http://127.0.0.1:{port}/webhook"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BOT_"))},
           "USE_WEBHOOK": "true", "WEBHOOK_URL": url, "TELEGRAM_WEBHOOK_SECRET": secret,
           "WEB_LISTEN": f"127.0.0.1:{port}", "SEND_LIMITS": "false", "STATE_DIR": str(directory / "state"),
           "BOTRUNNER_ENV_FILE": "/nonexistent.env", "LOG_LEVEL": "warning", **extra}
    supervisor = spawn(["start", "--workers", str(workers), "--api-url", api_url], directory / "botrunner.log", env)
    try:
        wait_until(lambda: _answers(url), 60, "the webhook server", alive=lambda: supervisor.poll() is None)
        time.sleep(2.0)                                 # every worker booted and holding lanes
        loadtest(url, secret, api_url, 900_000_000, 300)  # warm-up (its own users)
        runs = []
        for n in range(repeats):
            runs.append(loadtest(url, secret, api_url, (n + 1) * 1_000_000, 1000))
            print(_line(n + 1, runs[-1]), flush=True)
            time.sleep(2.0)
        return runs
    finally:
        stop(supervisor)
        stop(emulator)


def _answers(url: str) -> bool:
    try:
        return httpx.post(url, content=b"{}", timeout=2).status_code == 401
    except httpx.HTTPError:
        return False


def _line(n: int, run: dict) -> str:
    w, r = run["webhook"], run["replies"]
    return (f"run {n}: webhook success {w['success_rate'] * 100:.1f} % p50 {w['p50_ms']:.1f} p95 {w['p95_ms']:.1f} "
            f"p99 {w['p99_ms']:.1f} ms; replies success {r['success_rate'] * 100:.1f} % p50 {r['p50_ms']:.1f} "
            f"p95 {r['p95_ms']:.1f} p99 {r['p99_ms']:.1f} ms")


def section(runs: list[dict], workers: int, command: str) -> str:
    def med(part: str, key: str) -> float:
        return statistics.median(run[part][key] for run in runs)

    def shown(part: str, key: str) -> str:
        value = med(part, key)
        return f"{value * 100:.1f} %" if key == "success_rate" else f"{value:.1f}"
    rows = [f"| {name} | {shown(part, key)} | {target} |" for name, part, key, target in TARGETS]
    extra = [f"| webhook p50 / mean ms | {med('webhook', 'p50_ms'):.1f} / {med('webhook', 'mean_ms'):.1f} | |",
             f"| reply success | {med('replies', 'success_rate') * 100:.1f} % | |",
             f"| reply p50 / p95 ms | {med('replies', 'p50_ms'):.1f} / {med('replies', 'p95_ms'):.1f} | |"]
    per_run = [f"| {n} | {r['webhook']['success_rate'] * 100:.1f} % | {r['webhook']['p50_ms']:.1f} | "
               f"{r['webhook']['p95_ms']:.1f} | {r['webhook']['p99_ms']:.1f} | {r['replies']['success_rate'] * 100:.1f} % | "
               f"{r['replies']['p50_ms']:.1f} | {r['replies']['p95_ms']:.1f} | {r['replies']['p99_ms']:.1f} |"
               for n, r in enumerate(runs, 1)]
    load = os.getloadavg()
    return "\n".join([
        BEGIN, "## Webhook intake: the guide's webhook load test", "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}: botrunner in webhook mode with {workers} "
        "workers running the airdrop bot (`handlers.app:router`, embedded Redis and SQLite), the HTTP server's "
        "limits at their defaults, `SEND_LIMITS=false` (the local Bot API server has no flood limits). Each "
        "run is `botrunner loadtest --webhook URL --secret S --api-url URL --json`: 1000 /start from new users "
        "POSTed straight to the workers' port in 10 batches of 100 concurrent, 100 ms apart, 5 s timeout. "
        "Webhook times are POST to answer (the update is in its lane by then); reply times are POST to the "
        "bot's first reply (welcome text or captcha) arriving at the local Bot API server. Medians of "
        f"{len(runs)} runs after one warm-up run; load generator, server, Redis and bot share 2 cores "
        f"(load average at the end {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}).", "",
        "| metric | median | target |", "| --- | ---: | --- |", *rows, *extra, "",
        "| run | webhook success | p50 ms | p95 ms | p99 ms | reply success | reply p50 | reply p95 | reply p99 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", *per_run, END, ""])


def write_section(path: Path, text: str) -> None:
    """Replace the marked section in the file (or append it)."""
    current = path.read_text() if path.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + rest.split(END, 1)[1].lstrip("\n")
    path.write_text(current.rstrip("\n") + "\n\n" + text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra setting for the bot (e.g. CAPTCHA_ENABLED=false); repeatable")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="webhook-load-") as directory:
        runs = measure(args.workers, args.repeats, Path(directory), dict(item.split("=", 1) for item in args.set))
    command = "python benchmarks/webhook_load.py" + (f" --workers {args.workers}" if args.workers != 4 else "") + (
        f" --repeats {args.repeats}" if args.repeats != 5 else "")
    text = section(runs, args.workers, command)
    print(text)
    if not args.no_write:
        write_section(Path(args.out), text)


if __name__ == "__main__":
    main()
