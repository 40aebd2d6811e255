"""Runner throughput and poller takeover, measured against the local Bot API server.

    .venv/bin/python benchmarks/runner_burst.py                  # 1, 2, 4 workers; 5000 /start, 1000 users
    .venv/bin/python benchmarks/runner_burst.py --workers 2 --updates 2000 --users 500

Everything runs as real processes: the emulator (`botrunner emulator`), a private redis-server,
and `botrunner start` running the tiny bot defined below (BOT_HANDLERS=runner_burst:router), which
answers every /start with one message: the runner is measured, not a bot's business logic.
Throughput: from the first injection until every update is handled (replied to and acknowledged).
Takeover: kill -9 of the worker holding the poll lease, until another worker polls and a /start
injected right after the kill has been answered.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from botrunner.bot.context import Context  # noqa: E402
from botrunner.bot.router import Router  # noqa: E402
from botrunner.emulator.client import ControlClient  # noqa: E402
from botrunner.redis_keys import GROUP, Keys  # noqa: E402
from botrunner.supervisor.embedded_redis import EmbeddedRedis  # noqa: E402
from botrunner.tools.local_runs import start_emulator, stop, wait_until  # noqa: E402

router = Router()


@router.command("start")
def start(ctx: Context) -> None:
    """The whole benchmark bot: one greeting per /start."""
    ctx.reply(f"Hello, {ctx.effective_user.first_name}!")

TOKEN = "424242:bench-runner"
KEYS = Keys.for_token(TOKEN)
LANES = 64


def backlog(client: redis.Redis) -> int:
    """Updates stored in lanes but not yet acknowledged (pending + undelivered)."""
    total = 0
    for n in range(LANES):
        try:
            group = next(g for g in client.xinfo_groups(KEYS.lane(n)) if g["name"] == GROUP.encode())
        except (redis.ResponseError, StopIteration):
            continue
        total += group["pending"] + len(client.xrange(KEYS.lane(n), min=b"(" + group["last-delivered-id"], max="+"))
    return total


class Run:
    """One supervisor with its settings, started against the shared emulator and Redis."""

    def __init__(self, api_url: str, redis_url: str, state_dir: str, workers: int, **extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BOT_"))}
        env.update(BOT_TOKEN=TOKEN, REDIS_URL=redis_url, STATE_DIR=state_dir, LANES=str(LANES), LOG_LEVEL="warning",
                   BOTRUNNER_ENV_FILE="/nonexistent.env", BOT_HANDLERS="runner_burst:router",
                   PYTHONPATH=f"{ROOT / 'benchmarks'}:{ROOT}",
                   SEND_LIMITS="false",        # measure the pipeline, not Telegram's 30 msg/s pacing
                   **extra)
        self.proc = subprocess.Popen([sys.executable, "-m", "botrunner", "start", "--workers", str(workers),
                                      "--api-url", api_url], env=env, cwd=ROOT, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def ready(client: redis.Redis, workers: int) -> bool:
    holders = {client.get(KEYS.lane_owner(n)) for n in range(LANES)}
    return None not in holders and len(holders) == workers and bool(client.get(KEYS.poll_lease))


def measure_burst(control: ControlClient, client: redis.Redis, api_url: str, redis_url: str, state_dir: str,
                  workers: int, updates: int, users: int, **extra: str) -> float:
    control.reset(TOKEN)
    client.flushall()
    run = Run(api_url, redis_url, state_dir, workers, **extra)
    try:
        wait_until(lambda: ready(client, workers), 60, f"{workers} workers")
        items = [{"kind": "command", "user_id": 10_000 + i % users, "command": "start"} for i in range(updates)]
        started = time.monotonic()
        last_id = 0
        for first in range(0, updates, 500):
            last_id = control.inject_batch(TOKEN, items[first:first + 500])[-1]["update_id"]
        injected = time.monotonic() - started
        print(f"  workers={workers}: injected {updates} in {injected:.2f}s", flush=True)
        shown = 0.0
        while True:
            offset = int(client.get(KEYS.poll_offset) or 0)
            left = backlog(client)
            if offset > last_id and left == 0:
                break
            if time.monotonic() - shown > 1.0:
                shown = time.monotonic()
                print(f"    {time.monotonic() - started:5.1f}s  stored up to {offset - 1}/{last_id}, "
                      f"backlog {left}", flush=True)
            if time.monotonic() - started > 600:
                raise SystemExit("burst did not finish in 10 minutes")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        rate = updates / elapsed
        print(f"  workers={workers}: {updates} updates handled in {elapsed:.2f}s = {rate:.0f} updates/s", flush=True)
        return rate
    finally:
        run.stop()


def alternating(control: ControlClient, api_url: str, tmp: str, sides: dict[str, tuple[redis.Redis, str, dict]],
                args) -> tuple[dict[str, list[float]], list[float]]:
    """`args.runs` bursts on each side in turn (side name -> (client, REDIS_URL, extra environment)), so
    the machine's load hits every side alike: (updates/s per side, the load average before each burst)."""
    rates: dict[str, list[float]] = {side: [] for side in sides}
    loads: list[float] = []
    for run in range(args.runs):
        for side, (client, url, extra) in sides.items():
            print(f"run {run + 1} {side} (load average {os.getloadavg()[0]:.1f}):", flush=True)
            loads.append(os.getloadavg()[0])
            rates[side].append(measure_burst(control, client, api_url, url, str(Path(tmp) / f"state-{side}"),
                                             args.workers, args.updates, args.users, **extra))
    return rates, loads


def compared(rates: dict[str, list[float]], base: str, other: str) -> tuple[dict[str, float], float, float]:
    """(median per side, ratio of `other`'s median to `base`'s, median of the per-run ratios)."""
    medians = {side: statistics.median(values) for side, values in rates.items()}
    paired = statistics.median(o / b for b, o in zip(rates[base], rates[other]))
    return medians, medians[other] / medians[base], paired


def measure_takeover(control: ControlClient, client: redis.Redis, api_url: str, redis_url: str, state_dir: str,
                     ttl_ms: int) -> tuple[float, float]:
    control.reset(TOKEN)
    client.flushall()
    run = Run(api_url, redis_url, state_dir, 2, POLL_LEASE_TTL_MS=str(ttl_ms))
    try:
        wait_until(lambda: ready(client, 2), 60, "2 workers")
        lease = client.get(KEYS.poll_lease).decode()
        os.kill(int(lease.split(":")[2]), signal.SIGKILL)
        killed = time.monotonic()
        control.inject_command(TOKEN, 77, "start")
        wait_until(lambda: (v := client.get(KEYS.poll_lease)) and v.decode() != lease, 120, "a new poller", 0.01)
        polling = time.monotonic() - killed
        wait_until(lambda: control.sent(TOKEN, 77), 120, "the reply", 0.02)
        answered = time.monotonic() - killed
        stats = control.poll_stats(TOKEN)
        print(f"  POLL_LEASE_TTL_MS={ttl_ms}: new poller after {polling:.2f}s, first reply after {answered:.2f}s "
              f"(max concurrent getUpdates {stats['max_concurrent']})", flush=True)
        return polling, answered
    finally:
        run.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--ttl-ms", type=int, nargs="*", default=[10000, 3000])
    args = parser.parse_args()
    emulator, api_url = start_emulator()
    with tempfile.TemporaryDirectory(prefix="br-bench-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        client = redis.Redis.from_url(server.url)
        control = ControlClient(api_url)
        try:
            print(f"Burst: {args.updates} /start from {args.users} users, {LANES} lanes, cpus={os.cpu_count()}")
            rates = {w: measure_burst(control, client, api_url, server.url, tmp, w, args.updates, args.users)
                     for w in args.workers}
            print("Takeover after kill -9 of the poller (2 workers):")
            takeovers = {ttl: measure_takeover(control, client, api_url, server.url, tmp, ttl) for ttl in args.ttl_ms}
        finally:
            control.close()
            stop(emulator, 10)
    print("\nSummary")
    for workers, rate in rates.items():
        print(f"  {workers} worker(s): {rate:7.0f} updates/s")
    for ttl, (polling, answered) in takeovers.items():
        print(f"  takeover, lease TTL {ttl} ms: polling again after {polling:.2f}s, answered after {answered:.2f}s")


if __name__ == "__main__":
    main()
