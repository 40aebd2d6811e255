"""Webhook intake against its targets: the guide's webhook load test on the airdrop bot.

    .venv/bin/python benchmarks/webhook_load.py                 # 4 workers; 3 configurations x 5 runs
    .venv/bin/python benchmarks/webhook_load.py --repeats 3 --set HANDLER_THREADS=8 --no-write

Real processes: the local Bot API server (`botrunner emulator`), and `botrunner start` in webhook
mode (USE_WEBHOOK=true, the airdrop bot, its embedded Redis and SQLite, the HTTP server's limits at
their defaults; SEND_LIMITS=false because the local server has no flood limits to respect). Each
run is `botrunner loadtest --webhook URL --secret S --api-url ... --json` (new users every run),
after one warm-up run; configurations: the defaults, fewer handler threads (less contention for
the GIL with the worker's event loop, which answers the POSTs), no captcha image, and a light bot
defined here (one reply per /start). The medians
go into docs/benchmarks.md between the webhook markers, below report.py's KEPT marker, so `make
bench` carries them over when it rewrites the file.
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

from benchmarks.sections import write_section  # noqa: E402
from botrunner.bot.context import Context  # noqa: E402
from botrunner.bot.router import Router  # noqa: E402
from botrunner.tools.local_runs import free_port, spawn, start_emulator, stop, wait_until  # noqa: E402

#: The light bot of the last configuration (BOT_HANDLERS=webhook_load:router): one reply per /start,
#: so the runner's own cost shows, not a bot's.
router = Router()


@router.command("start")
def start(ctx: Context) -> None:
    ctx.reply("welcome")


BEGIN, END = "<!-- webhook-load:begin -->", "<!-- webhook-load:end -->"


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


CONFIGS = [("defaults", {}), ("HANDLER_THREADS=4", {"HANDLER_THREADS": "4"}),
           ("CAPTCHA_ENABLED=false", {"CAPTCHA_ENABLED": "false"}),
           ("light bot (one reply)", {"BOT_HANDLERS": "webhook_load:router",
                                      "PYTHONPATH": f"{ROOT / 'benchmarks'}:{ROOT}"})]


def _cells(run_or_runs: list[dict]) -> list[str]:
    def med(part: str, key: str) -> float:
        return statistics.median(run[part][key] for run in run_or_runs)
    cells = []
    for part in ("webhook", "replies"):
        cells += [f"{med(part, 'success_rate') * 100:.1f} %"] + [f"{med(part, k):.1f}" for k in
                                                                  ("p50_ms", "p95_ms", "p99_ms")]
    return cells


TARGETS = [("success", "webhook", "success_rate", lambda v: v >= 0.999), ("p95", "webhook", "p95_ms", lambda v: v < 50),
           ("p99", "webhook", "p99_ms", lambda v: v < 100), ("reply p99", "replies", "p99_ms", lambda v: v < 500)]

EXPLAINED = (
    "What the configurations show. A worker answers POSTs on its event loop while its handler threads "
    "(HANDLER_THREADS, 16 by default) run the bot; a CPU-bound handler holds the GIL, so under a burst the "
    "answer to a POST waits for the loop to get the GIL back. Fewer handler threads contend less: webhook "
    "times drop, replies come later (less parallel work). The captcha image is most of the bot's CPU per "
    "new user. The light bot replies once per /start and does nothing else: what the runner itself costs. "
    "On this machine the 2 cores also run the load generator and the local Bot API server (and whatever "
    "else runs at the time), so these are upper "
    "bounds for a host that only receives Telegram's POSTs.")


def verdict(runs: list[dict]) -> str:
    failed = [name for name, part, key, ok in TARGETS if not ok(statistics.median(r[part][key] for r in runs))]
    return "all met" if not failed else "missed: " + ", ".join(failed)


def section(results: list[tuple[str, list[dict]]], workers: int, command: str) -> str:
    """The markdown section: medians per configuration against the targets, then every run."""
    head = ("| {} | webhook success | webhook p50 ms | webhook p95 ms | webhook p99 ms | reply success | "
            "reply p50 ms | reply p95 ms | reply p99 ms |")
    rule = "| --- " + "| ---: " * 8 + "|"
    medians = [f"| {label} | " + " | ".join(_cells(runs)) + f" | {verdict(runs)} |" for label, runs in results]
    every = [f"| {label} #{n} | " + " | ".join(_cells([run])) + " |"
             for label, runs in results for n, run in enumerate(runs, 1)]
    load = os.getloadavg()
    runs = len(results[0][1]) if results else 0
    return "\n".join([
        BEGIN, "## Webhook intake: the guide's webhook load test", "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}: botrunner in webhook mode with {workers} "
        "workers running the airdrop bot (`handlers.app:router`: /start registers the user and sends the "
        "welcome text and a captcha image; the last row runs a light bot instead), embedded Redis and SQLite, "
        "the HTTP server's limits at their "
        "defaults, `SEND_LIMITS=false` (the local Bot API server has no flood limits). Each run is `botrunner "
        "loadtest --webhook URL --secret S --api-url URL --json`: 1000 /start from new users POSTed straight "
        "to the workers' port in 10 batches of 100 concurrent, 100 ms apart, 5 s timeout. Webhook times: POST "
        "to its answer (the update is in its lane by then). Reply times: POST to the bot's first reply arriving "
        f"at the local Bot API server. Medians of {runs} runs per configuration after one warm-up run; the "
        "load generator, the server, Redis and the bot share the machine's 2 cores (load average at the end "
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; other work on the machine shows there).", "",
        "Targets: webhook success >= 99.9 %, webhook p95 < 50 ms and p99 < 100 ms, reply p99 < 500 ms.", "",
        head.format("configuration") + " targets |", rule + " --- |", *medians, "", EXPLAINED, "", "Every run:", "",
        head.format("run"), rule, *every,
        END, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="measure only this configuration (extra bot settings; repeatable)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    configs = [(" ".join(args.set), dict(item.split("=", 1) for item in args.set))] if args.set else CONFIGS
    results = []
    for label, extra in configs:
        with tempfile.TemporaryDirectory(prefix="webhook-load-") as directory:
            print(f"{label}:", flush=True)
            results.append((label, measure(args.workers, args.repeats, Path(directory), extra)))
    command = "python benchmarks/webhook_load.py" + "".join(
        f" {flag} {value}" for flag, value, default in (("--workers", args.workers, 4), ("--repeats", args.repeats, 5))
        if value != default) + "".join(f" --set {item}" for item in args.set)
    text = section(results, args.workers, command)
    print(text)
    if not args.no_write:
        write_section(Path(args.out), text, BEGIN, END)


if __name__ == "__main__":
    main()
