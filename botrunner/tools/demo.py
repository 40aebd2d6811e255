"""`botrunner demo`: the local Bot API server, the runner on embedded defaults, and simulated users.

Everything runs as real processes (`botrunner emulator`, `botrunner start`) so the demo shows what an
operator would deploy. Simulated users walk through the airdrop bot (`botrunner.tools.demo_journey`): one
in ten joins on its own, the others through one of their referral links; every step's latency is
measured from injection to the bot's call arriving at the Bot API server.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import redis
from loguru import logger

from botrunner import redis_clients
from botrunner.config.settings import Settings, load_settings
from botrunner.emulator.client import ControlClient
from botrunner.redis_keys import Keys
from botrunner.tools.demo_journey import STEPS, Journey
from botrunner.tools.latency import Samples, percentile, render_rows, summary_rows
from botrunner.tools.local_runs import spawn, start_emulator, stop, wait_until

DEMO_TOKEN = "100001:demo-token-for-the-local-bot-api"
CACHE_LINE = re.compile(r"(worker-\d+) User cache statistics: .*?l1Hits=(\d+) l2Hits=(\d+) misses=(\d+)")


@dataclass
class Tally:
    """Reply latencies (the shared `Samples`, plus per step) and per-user outcomes."""
    samples: Samples = field(default_factory=Samples)
    per_step: dict[str, list[float]] = field(default_factory=dict)
    failed_steps: dict[str, int] = field(default_factory=dict)
    users_done: int = 0
    failures: int = 0
    elapsed_s: float = 0.0                               # the whole run, set by drive()
    leaders: list[int] = field(default_factory=list)     # users who joined without a referrer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, step: str, latency_ms: float) -> None:
        self.samples.add_reply(latency_ms)
        with self.lock:
            self.per_step.setdefault(step, []).append(latency_ms)

    def user(self, failed_step: str | None) -> None:
        names = [name for name, _, _ in STEPS]
        self.samples.add_sent(names.index(failed_step) + 1 if failed_step else len(names))
        with self.lock:
            self.users_done += 1
            if failed_step is not None:
                self.failures += 1
                self.failed_steps[failed_step] = self.failed_steps.get(failed_step, 0) + 1


def progress_line(tally: Tally, users: int, started: float, extra: str = "") -> str:
    elapsed = time.monotonic() - started
    replies = tally.samples.replied
    p50, p95, p99 = tally.samples.quantiles(0.5, 0.95, 0.99)
    return (f"[{elapsed:6.1f}s] users {tally.users_done:>5}/{users}  replies {replies:>6}  "
            f"{replies / max(elapsed, 1e-9):7.1f} updates/s  p50 {p50:6.1f} p95 {p95:6.1f} p99 {p99:6.1f} ms  "
            f"failed {tally.failures}{extra}")


def drive(journey: Journey, users: int, concurrency: int, out: TextIO = sys.stdout,
          live: Callable[[], str] = lambda: "") -> Tally:
    """Run `users` journeys, `concurrency` at a time: first the users who join on their own, then
    the ones who follow their referral links. A progress line twice a second (every 3 s in a log)."""
    tally = Tally()
    journey.on_reply = tally.reply
    started = time.monotonic()
    rng = random.Random(7)
    ids = rng.sample(range(10_000_000, 20_000_000), users)
    leaders, followers = ids[:max(1, users // 10)], ids[max(1, users // 10):]
    interactive = getattr(out, "isatty", lambda: False)()
    pool = ThreadPoolExecutor(concurrency)
    try:
        def one_user(user_id: int, referrer: int | None) -> None:
            tally.user(journey.run(user_id, referrer))

        waves: list[list[tuple[int, int | None]]] = [[(uid, None) for uid in leaders],
                                                     [(uid, rng.choice(leaders)) for uid in followers]]
        for wave in waves:
            futures = [pool.submit(one_user, uid, ref) for uid, ref in wave]
            while not all(f.done() for f in futures):
                out.write(("\r" if interactive else "") + progress_line(tally, users, started, live())
                          + ("" if interactive else "\n"))
                out.flush()
                time.sleep(0.5 if interactive else 3.0)
            for f in futures:
                f.result()
    finally:
        # Ctrl-C: drop the journeys not started yet; only the running ones (at most `concurrency`) finish
        pool.shutdown(wait=True, cancel_futures=True)
    out.write(("\r" if interactive else "") + progress_line(tally, users, started, live()) + "\n")
    tally.elapsed_s = time.monotonic() - started
    tally.leaders = leaders
    return tally


def summary(tally: Tally, users: int, workers: int, referrals: int, cache: str) -> str:
    """The closing table: outcome, latency overall and per step, referral bonuses, cache."""
    result = tally.samples.summary(tally.elapsed_s)
    failed = ", ".join(f"{n} at {step}" for step, n in tally.failed_steps.items()) or "none"
    rows = [("simulated users", f"{users} ({len(tally.leaders)} joined on their own)"),
            ("workers", f"{workers}"),
            ("journeys completed", f"{users - tally.failures} of {users} (failed: {failed})"),
            ("referral bonuses credited", f"{referrals} (expected {users - len(tally.leaders)})"),
            ("user cache hit rate", cache), *summary_rows(result)]
    for step, _, _ in STEPS:
        data = sorted(tally.per_step.get(step, []))
        rows.append((f"  step {step}", f"p50 {percentile(data, 0.5):.1f} / p99 {percentile(data, 0.99):.1f} ms"
                                      f" ({len(data)} replies)"))
    return render_rows(rows)


class LiveStats:
    """Workers alive (heartbeats in Redis) and the user cache's hit rate (its statistics lines in the log)."""

    def __init__(self, client: redis.Redis, log_path: Path) -> None:
        self.client = client
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
    """Start the stack, drive the users, print the summary; 0 when every journey completed."""
    state = Path(state_dir).resolve()
    fresh_start(state)
    # the local server's flood limits are off, so the runner's own pacing is lifted as well
    env = {**os.environ, "STATE_DIR": str(state), "BOT_TOKEN": DEMO_TOKEN, "BOTRUNNER_ENV_FILE": "/dev/null",
           "CACHE_STATS_INTERVAL_S": "2", "SEND_LIMITS": "false"}
    for name in ("REDIS_URL", "REDIS_HOST", "MONGODB_URL", "SESSION_ENCRYPTION_KEY", "ADMIN_USER_IDS",
                 "TELEGRAM_API_URL"):
        env.pop(name, None)  # the demo always runs on embedded defaults
    settings = load_settings(environ={"STATE_DIR": str(state)}, env_file=None)
    logger.info("demo: state and logs under {}", state)
    emulator = runner = None
    try:
        emulator, api_url = start_emulator(state / "emulator.log", env)
        logger.info("demo: local Bot API server at {}", api_url)
        runner = spawn(["start", "--workers", str(workers), "--api-url", api_url], state / "runner.log", env)
        with ControlClient(api_url, timeout=reply_timeout + 30) as control:
            wait_for_bot(control, runner)
            logger.info("demo: {} workers polling; {} simulated users join, solve the captcha, open the menu, "
                        "check in and look at the leaderboard", workers, users)
            live = LiveStats(redis_clients.sync_client(settings, settings.redis_dedup_db, timeout=1), state / "runner.log")
            tally = drive(make_journey(control, settings, reply_timeout), users, concurrency, live=live)
        referrals = credited_referrals(settings, tally)
        print("\nbotrunner demo: summary\n" + summary(tally, users, workers, referrals, live.hit_rate()))
        print(f"\nlogs: {state / 'runner.log'} and {state / 'emulator.log'}")
        return 0 if tally.failures == 0 else 1
    except KeyboardInterrupt:
        logger.warning("demo: interrupted, stopping everything")
        return 130
    finally:
        stop(runner)
        stop(emulator)


def fresh_start(state: Path) -> None:
    """Remove what an earlier demo left: its Redis still knows the update_ids a new local server
    hands out again from 1 (and drops them as duplicates), and its users are no longer new."""
    state.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(state / "redis", ignore_errors=True)
    for leftover in ("botrunner.sqlite3", "botrunner.sqlite3-wal", "botrunner.sqlite3-shm",
                     "botrunner.sqlite3.lock", "runner.log", "emulator.log"):
        (state / leftover).unlink(missing_ok=True)


def make_journey(control: ControlClient, settings: Settings, reply_timeout: float) -> Journey:
    """A Journey whose users read their captcha code from their conversation in the embedded Redis."""
    from botrunner.bot.states import states_from_settings
    states = states_from_settings(settings, redis_clients.sync_client(settings, settings.redis_session_db),
                                  Keys.for_token(DEMO_TOKEN).prefix)

    def captcha_code(user_id: int) -> str:
        # the worker stores the conversation right after sending the photo: allow it a moment
        deadline = time.monotonic() + 5.0
        while True:
            code = (states.get(user_id, user_id).data.get("captcha") or {}).get("code", "")
            if code or time.monotonic() > deadline:
                return code
            time.sleep(0.02)
    return Journey(control, DEMO_TOKEN, captcha_code, on_reply=lambda step, ms: None, timeout=reply_timeout)


def credited_referrals(settings: Settings, tally: Tally) -> int:
    """Referral bonuses the database shows as paid (read after the workers flushed their batches)."""
    from storage.factory import open_store
    store = open_store(settings)
    try:
        leaders = [store.users.get(uid) for uid in tally.leaders]
        return sum(user.referral_count for user in leaders if user is not None)   # counted when paid
    finally:
        store.close()


def wait_for_bot(control: ControlClient, runner: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until the runner polls the emulator (its first getUpdates)."""
    wait_until(lambda: control.poll_stats(DEMO_TOKEN).get("total_calls", 0) > 0, timeout,
               "the runner's first getUpdates (see runner.log)", interval=0.2, alive=lambda: runner.poll() is None)
