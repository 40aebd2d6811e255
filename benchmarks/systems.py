"""The systems the comparison runs (botrunner with N workers, python-telegram-bot, aiogram): how each is
started against the shared local Bot API server, when it is ready, what it costs (CPU, RSS), how it stops.

Every system runs as its own process group (start_new_session) so stopping it never leaves a child behind.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
LANES = 64
IDLE_CPU_SHARE = 0.05     # a system using less than 5 % of one core over SETTLE_WINDOW_S is at rest
SETTLE_WINDOW_S = 0.5
QUIET_WINDOWS = 5         # at rest this many windows in a row: longer than the airdrop bot waits before it
                          # renders captcha pictures ahead (handlers/captcha_pool.IDLE_S, 1 s, then its CPU check)
REST_CEILING = 0.25       # a system at rest uses less than this share of a core (the peers idle at 0.10-0.14;
                          # a worker rendering captcha pictures ahead uses most of one)


@dataclass(frozen=True)
class System:
    """One contender: `kind` is botrunner, ptb, aiogram or aiohttp (the bare loop); `workers` and `limits`
    only matter for botrunner (`limits`: Telegram's pacing as shipped, SEND_LIMITS=true; the peers have
    no flood control at all)."""

    name: str
    kind: str
    workers: int = 1
    limits: bool = False
    root: Path = ROOT          # another checkout (with its own .venv) to measure a baseline in the same run

    def command(self, api_url: str, token: str) -> list[str]:
        python = sys.executable if self.root == ROOT else str(self.root / ".venv" / "bin" / "python")
        if self.kind == "botrunner":
            return [python, "-m", "botrunner", "start", "--workers", str(self.workers), "--api-url", api_url]
        return [python, str(PEERS / f"{self.kind}_bot.py"), api_url, token]


SYSTEMS = {s.name: s for s in (System("botrunner-1", "botrunner", 1), System("botrunner-2", "botrunner", 2),
                               System("botrunner-4", "botrunner", 4),
                               System("botrunner-4-limits", "botrunner", 4, limits=True), System("ptb", "ptb"),
                               System("aiogram", "aiogram"), System("aiohttp", "aiohttp"))}
LABELS = {"botrunner-1": "botrunner, 1 worker", "botrunner-2": "botrunner, 2 workers",
          "botrunner-4": "botrunner, 4 workers",
          "botrunner-4-limits": "botrunner, 4 workers, default config (Telegram limits on)",
          "ptb": "python-telegram-bot 22 (run_polling, concurrent_updates)",
          "aiogram": "aiogram 3 (start_polling, defaults)",
          "aiohttp": "bare aiohttp + uvloop loop (no framework, nothing durable)"}


def add_baseline(root: Path, names: list[str]) -> list[str]:
    """`name@base` for every botrunner system in `names`: the same system run from the checkout at `root`
    (its own .venv; its benchmarks/peers/bench_store.py must know BENCH_WORKLOAD), registered in SYSTEMS."""
    added = []
    for name in names:
        system = SYSTEMS[name]
        if system.kind == "botrunner":
            base = System(f"{name}@base", system.kind, system.workers, system.limits, root.resolve())
            SYSTEMS[base.name] = base
            LABELS[base.name] = f"{LABELS[name]}, baseline checkout"
            added.append(base.name)
    return added


class Running:
    """A started system: its process group, its state directory, its cost counters."""

    def __init__(self, system: System, api_url: str, token: str, redis_url: str, state: Path,
                 handlers: str = "benchmarks.peers.botrunner_bot:router", workload: str = "register") -> None:
        self.system = system
        self.state = state
        self.stats_dir = state / "stats"
        self.stats_dir.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BOT_", "MONGODB_"))}
        env.update(PYTHONPATH=str(system.root), BENCH_SQLITE=str(state / "bench.sqlite3"), BENCH_STATS_DIR=str(self.stats_dir),
                   BOT_TOKEN=token, REDIS_URL=redis_url, STATE_DIR=str(state), LANES=str(LANES), LOG_LEVEL="warning",
                   BOT_HANDLERS=handlers, BOTRUNNER_ENV_FILE="/nonexistent.env", BENCH_WORKLOAD=workload,
                   # the peers have no flood control and the emulator's limits are off: lift ours too,
                   # except for the row that measures the default configuration
                   SEND_LIMITS="true" if system.limits else "false")
        self.log = open(state / "bot.log", "ab")
        self.proc = subprocess.Popen(system.command(api_url, token), env=env, cwd=system.root, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def processes(self) -> list[psutil.Process]:
        """The system's live processes (the top process and its children: supervisor and workers)."""
        try:
            top = psutil.Process(self.proc.pid)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_mb(self) -> tuple[float, float]:
        """(mean RSS of the processes that handle updates, RSS of all its processes), in MiB."""
        rss = {}
        for proc in self.processes():
            try:
                rss[proc.pid] = proc.memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                pass
        handling = [v for pid, v in rss.items() if pid != self.proc.pid] if self.system.kind == "botrunner" else \
            list(rss.values())
        return (sum(handling) / len(handling) if handling else 0.0), sum(rss.values())

    def round_trips(self) -> tuple[int, int]:
        """(database round trips, updates handled) summed over the bot's processes' reports."""
        trips = updates = 0
        for path in self.stats_dir.glob("*.json"):
            report = json.loads(path.read_text())
            trips += report["round_trips"]
            updates += report["updates"]
        return trips, updates

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the group (each framework's graceful stop), SIGKILL after `timeout`."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)      # stragglers of the group (workers of a killed supervisor)
        self.proc.wait()
        self.log.close()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


def rest_share(cpu_seconds: Callable[[], float], max_s: float, window_s: float = SETTLE_WINDOW_S) -> float | None:
    """The share of one core a system uses at rest (timers, heartbeats, polling an empty queue: aiogram and
    python-telegram-bot about a tenth of a core, botrunner about a hundredth), measured only once it is at
    rest: the mean of the first QUIET_WINDOWS windows in a row under REST_CEILING. Work a system does
    ahead in quiet time is not rest: the airdrop bot's workers render their captcha pools right after
    boot, at most of a core each, and a share measured then took that work out of every pause. None
    when it does not come to rest within `max_s`: nothing is then taken out."""
    started, quiet = time.monotonic(), []
    while time.monotonic() - started < max_s:
        share = window_share(cpu_seconds, window_s)
        quiet = [*quiet, share] if share < REST_CEILING else []
        if len(quiet) >= QUIET_WINDOWS:
            return sum(quiet) / len(quiet)
    return None


def settle(cpu_seconds: Callable[[], float], max_s: float, window_s: float = SETTLE_WINDOW_S,
           idle: float = 0.0) -> float:
    """Wait until QUIET_WINDOWS windows in a row used less than IDLE_CPU_SHARE of a core above the system's own
    `idle` share (the work a system does ahead in quiet time, such as the airdrop bot's captcha pool
    refilling, is finished), at most `max_s` (0: do not wait); the seconds waited."""
    started = time.monotonic()
    quiet = 0
    while quiet < QUIET_WINDOWS and time.monotonic() - started < max_s:
        quiet = quiet + 1 if window_share(cpu_seconds, window_s) < IDLE_CPU_SHARE + idle else 0
    return time.monotonic() - started


def window_share(cpu_seconds: Callable[[], float], window_s: float) -> float:
    """The share of one core used over about `window_s`, divided by the time that really passed (a sleep
    overshoots on a loaded machine, and the CPU of the longer window must not read as a busier system)."""
    before, began = cpu_seconds(), time.monotonic()
    time.sleep(window_s)
    return max(0.0, cpu_seconds() - before) / max(time.monotonic() - began, 1e-6)


def botrunner_ready(client: redis.Redis, keys, workers: int) -> bool:
    """Every lane has an owner, there are `workers` distinct owners, and one holds the poll lease; in this
    tree's key layout or in the one before hash tags (a --baseline checkout from before that change)."""
    for owner_key, poll_key in ((keys.lane_owner, keys.poll_lease),
                                (lambda n: f"{keys.prefix}lane:{n}:owner", keys.prefix + "poll:lease")):
        owners = client.mget([owner_key(n) for n in range(LANES)])
        if None not in owners and len(set(owners)) == workers and client.get(poll_key):
            return True
    return False


def redis_commands(client: redis.Redis) -> int:
    """Commands Redis has processed since its last CONFIG RESETSTAT (minus this INFO call)."""
    return int(client.info("stats")["total_commands_processed"])


class CpuAccount:
    """The CPU a run's measured phases cost: from `start()` to the end of the last `pause()`, less what the
    system burns at rest (`rest_share`, measured before the warm-up) during the pauses within that window.
    Work done in a pause (a pool refilling after a phase) is counted: it is the phases' work, done later."""

    def __init__(self, cpu_seconds: Callable[[], float], settle_max_s: float, window_s: float = SETTLE_WINDOW_S) -> None:
        self.cpu_seconds = cpu_seconds
        self.settle_max_s = settle_max_s
        self.window_s = window_s
        self.rest: float | None = None
        self.cpu0: float | None = None
        self.paused = 0.0            # seconds of pauses within the window

    def measure_rest(self) -> float | None:
        """The system's share of a core at rest (None: it did not come to rest), for the pauses."""
        self.rest = rest_share(self.cpu_seconds, self.settle_max_s, self.window_s) if self.settle_max_s > 0 else None
        return self.rest

    def pause(self) -> float:
        """Wait until the system is at rest again (`settle`); the seconds waited."""
        waited = settle(self.cpu_seconds, self.settle_max_s, self.window_s, idle=self.rest or 0.0)
        if self.cpu0 is not None:
            self.paused += waited
        return waited

    def start(self) -> None:
        self.cpu0 = self.cpu_seconds()

    def work(self) -> float:
        """CPU seconds since `start()`, less the rest share over the pauses since."""
        return self.cpu_seconds() - (self.cpu0 or 0.0) - (self.rest or 0.0) * self.paused
