"""`botrunner demo`: the local Bot API server, the runner on embedded defaults, and simulated users.

Everything runs as real processes (`botrunner emulator`, `botrunner start`) so the demo shows what an
operator would deploy. Simulated users talk to the bot through the emulator's control plane; every
reply's latency is measured from injection to the bot's call arriving at the Bot API server.
"""
from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from loguru import logger

from botrunner.emulator.client import ControlClient
from botrunner.latency import Samples, render_rows, summary_rows
from botrunner.redis_keys import Keys

DEMO_TOKEN = "100001:demo-token-for-the-local-bot-api"
CACHE_LINE = re.compile(r"(worker-\d+) User cache statistics: .*?l1Hits=(\d+) l2Hits=(\d+) misses=(\d+)")
CONVERSATION = (("command", "start"), ("command", "help"), ("message", "hello from a simulated user"))


@dataclass
class Tally:
    """Reply latencies (the shared `Samples`) plus per-user outcomes, for the progress line and summary."""
    samples: Samples = field(default_factory=Samples)
    users_done: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, latency_ms: float) -> None:
        self.samples.add_reply(latency_ms)

    def user(self, ok: bool) -> None:
        with self.lock:
            self.users_done += 1
            self.failures += 0 if ok else 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `botrunner <args>` with its output going to a log file the operator can read afterwards."""
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "cli", *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=Path(__file__).resolve().parents[1], start_new_session=True)


def wait_http(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen | None, timeout: float = 30.0) -> None:
    """SIGTERM (warm stop), then SIGKILL if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def converse(control: ControlClient, user_id: int, tally: Tally, reply_timeout: float) -> bool:
    """One simulated user: each step is injected, then the bot's reply awaited."""
    last = -1
    for kind, text in CONVERSATION:
        if kind == "command":
            control.inject_command(DEMO_TOKEN, user_id, text, first_name=f"Demo{user_id}")
        else:
            control.inject_message(DEMO_TOKEN, user_id, text, first_name=f"Demo{user_id}")
        entry = control.wait_for_message(DEMO_TOKEN, user_id, after_index=last, timeout=reply_timeout)
        if entry is None:
            return False
        last = entry["index"]
        tally.reply(entry.get("since_inject", 0.0) * 1000.0)
    return True


def progress_line(tally: Tally, users: int, started: float, extra: str = "") -> str:
    elapsed = time.monotonic() - started
    replies = tally.samples.replied
    p50, p95, p99 = tally.samples.quantiles(0.5, 0.95, 0.99)
    return (f"[{elapsed:6.1f}s] users {tally.users_done:>5}/{users}  replies {replies:>6}  "
            f"{replies / max(elapsed, 1e-9):7.1f} updates/s  p50 {p50:6.1f} p95 {p95:6.1f} p99 {p99:6.1f} ms  "
            f"failed {tally.failures}{extra}")


def drive(control: ControlClient, users: int, concurrency: int, reply_timeout: float, out=sys.stdout,
          live=lambda: "") -> Tally:
    """Run `users` conversations, `concurrency` at a time, printing a progress line twice a second."""
    tally = Tally()
    started = time.monotonic()
    ids = random.Random(7).sample(range(10_000_000, 20_000_000), users)
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(lambda uid=uid: tally.user(converse(control, uid, tally, reply_timeout)))
                   for uid in ids]
        # a terminal gets one line rewritten in place; a log file gets a line every few seconds
        interactive = getattr(out, "isatty", lambda: False)()
        while not all(f.done() for f in futures):
            out.write(("\r" if interactive else "") + progress_line(tally, users, started, live())
                      + ("" if interactive else "\n"))
            out.flush()
            time.sleep(0.5 if interactive else 3.0)
        for f in futures:
            f.result()
    out.write(("\r" if interactive else "") + progress_line(tally, users, started, live()) + "\n")
    tally.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
    return tally


def summary(tally: Tally, users: int, workers: int) -> str:
    result = tally.samples.summary(getattr(tally, "elapsed", 1.0))
    rows = [("simulated users", f"{users}"), ("workers", f"{workers}"),
            ("replies received", f"{result.replied} of {users * len(CONVERSATION)}"),
            ("users with a missing reply", f"{tally.failures}"), *summary_rows(result)[1:]]
    return render_rows(rows)


class LiveStats:
    """Workers alive (heartbeats in Redis) and the user cache's hit rate (its statistics lines in the log)."""

    def __init__(self, redis_url: str, log_path: Path) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=1)
        self.log_path = log_path
        self.offset = 0
        self.per_worker: dict[str, tuple[int, int]] = {}

    def __call__(self) -> str:
        return f"  workers {self.workers()}  cache hits {self.hit_rate()}"

    def workers(self) -> str:
        try:
            return str(self.client.zcount(Keys.for_token(DEMO_TOKEN).workers, time.time() * 1000 - 5000, "+inf"))
        except (redis.RedisError, OSError):
            return "?"

    def hit_rate(self) -> str:
        """Read the log lines written since the last call; each worker's latest counters win."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self.offset)
                chunk = log.read().decode(errors="replace")
                self.offset = log.tell()
        except OSError:
            return "-"
        for worker, l1, l2, misses in CACHE_LINE.findall(chunk):
            self.per_worker[worker] = (int(l1) + int(l2), int(misses))
        hits = sum(h for h, _ in self.per_worker.values())
        lookups = hits + sum(m for _, m in self.per_worker.values())
        return f"{100 * hits / lookups:.0f} %" if lookups else "-"


def run_demo(state_dir: str, users: int = 200, workers: int = 4, concurrency: int = 32,
             reply_timeout: float = 30.0) -> int:
    """Start the stack, drive the users, print the summary; 0 when every user got every reply."""
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "STATE_DIR": str(state), "BOT_TOKEN": DEMO_TOKEN, "TELEGRAM_API_URL": api_url,
           "BOTRUNNER_ENV_FILE": "/dev/null", "CACHE_STATS_INTERVAL_S": "2"}
    for name in ("REDIS_URL", "REDIS_HOST", "MONGODB_URL"):
        env.pop(name, None)  # the demo always runs on embedded defaults
    logger.info("demo: state and logs under {}", state)
    emulator = runner = None
    try:
        emulator = spawn(["emulator", "--port", str(port)], state / "emulator.log", env)
        wait_http(api_url, emulator)
        logger.info("demo: local Bot API server at {}", api_url)
        runner = spawn(["start", "--workers", str(workers), "--api-url", api_url], state / "runner.log", env)
        with ControlClient(api_url, timeout=reply_timeout + 30) as control:
            wait_for_bot(control, runner)
            logger.info("demo: {} workers polling; driving {} simulated users", workers, users)
            redis_url = f"unix://{state / 'redis' / 'redis.sock'}?db=0"
            tally = drive(control, users, concurrency, reply_timeout, live=LiveStats(redis_url, state / "runner.log"))
        print("\nbotrunner demo: summary\n" + summary(tally, users, workers))
        print(f"\nlogs: {state / 'runner.log'} and {state / 'emulator.log'}")
        return 0 if tally.failures == 0 else 1
    except KeyboardInterrupt:
        logger.warning("demo: interrupted, stopping everything")
        return 130
    finally:
        stop(runner)
        stop(emulator)


def wait_for_bot(control: ControlClient, runner: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until the runner polls the emulator (its first getUpdates)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runner.poll() is not None:
            raise RuntimeError(f"`botrunner start` exited with {runner.returncode}; see runner.log")
        if control.poll_stats(DEMO_TOKEN).get("total_calls", 0) > 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the runner did not poll within {timeout:.0f} s; see runner.log")
