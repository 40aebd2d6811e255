"""`make bench`: the same /start workload (reply + register the user in SQLite) on botrunner (1, 2, 4
workers), python-telegram-bot and aiogram, side by side against one local Bot API server; writes
docs/benchmarks.md with medians, ratios, the machine and the command.

    .venv/bin/python benchmarks/compare.py                          # 5 interleaved repetitions
    .venv/bin/python benchmarks/compare.py --workload reply --systems botrunner-1 botrunner-2 botrunner-4 aiogram aiohttp
    .venv/bin/python benchmarks/compare.py --repeats 5 --burst 3000 --systems botrunner-4 ptb

Each run: a fresh SQLite file (and, for botrunner, an emptied Redis), warm-up, then a burst of --burst
/start from new users injected at once (throughput) and the deployment guide's test (latency).
The workload itself is `botrunner.tools.loadtest.start_item`: the same one `botrunner loadtest` sends.

Each measured phase starts from a system at rest, as it would in a deployment: after the warm-up and
after each phase the benchmark waits (at most --settle s) until the bot's processes are idle. An operator
runs the guide's test on a bot that has been up, not in the second after 2000 other new users; the
airdrop bot renders its captcha pictures ahead in such quiet time (handlers/captcha_pool.py, 512 per
worker), and without the pause the burst has emptied that pool before the guide's test begins. The
CPU columns count the quiet time too (the window runs from the end of the first pause to the end of
the last), so every picture served is paid for once, whether rendered ahead or on demand; what a system
burns at rest anyway (its rest share: timers, polling; measured before the warm-up once the system is at
rest, so not while the airdrop bot fills its pools after boot) is taken out of the pauses, and a pause
ends once the system is back at that share. --settle 0
runs the phases back to back: the guide's test then measures 1000 new users arriving in the second
after --burst others (3000 new users in a few seconds, beyond what the pool covers).
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.host_probe import HostProbe, OthersCpu  # noqa: E402
from benchmarks.report import write_markdown, write_reply_section  # noqa: E402
from benchmarks.systems import SYSTEMS, CpuAccount, Running, add_baseline, botrunner_ready, redis_commands  # noqa: E402
from botrunner.emulator.client import ControlClient  # noqa: E402
from botrunner.redis_keys import Keys  # noqa: E402
from botrunner.supervisor.embedded_redis import EmbeddedRedis  # noqa: E402
from botrunner.tools.loadtest import run_load  # noqa: E402
from botrunner.tools.local_runs import start_emulator, stop, wait_until  # noqa: E402
from storage.sqlite.backend import SQLiteStore  # noqa: E402

TOKEN = "424242:bench-compare"


def load(api_url: str, requests: int, batches: int, interval: float, first_user: int, timeout: float):
    return asyncio.run(run_load(api_url, TOKEN, requests=requests, batches=batches, interval=interval,
                                first_user=first_user, reply_timeout=timeout, show_progress=False)).summary()


def fresh_state(control: ControlClient, client: redis.Redis, state: Path) -> Path:
    """A fresh start for one run: the local server's bot state reset, Redis emptied, a new state
    directory with the benchmark bot's SQLite schema."""
    control.reset(TOKEN)
    client.flushall()
    state.mkdir()
    store = SQLiteStore(str(state / "bench.sqlite3"))
    store.init_schema()
    store.close()
    return state


def measure(name: str, rep: int, args, api_url: str, control: ControlClient, server: EmbeddedRedis,
            tmp: Path, emulator: psutil.Process) -> dict:
    """Start one system fresh, warm it up, run the burst and the guide's test, read its costs, stop it."""
    system = SYSTEMS[name]
    client = redis.Redis.from_url(server.url)
    state = fresh_state(control, client, tmp / f"{name}-{rep}")
    running = Running(system, api_url, TOKEN, server.url, state, args.handlers, args.workload)
    redis_proc = psutil.Process(server.process.pid)
    try:
        wait_until(lambda: control.poll_stats(TOKEN)["total_calls"] > 0, 60, f"{name} to poll", alive=running.alive)
        if system.kind == "botrunner":
            wait_until(lambda: botrunner_ready(client, Keys.for_token(TOKEN), system.workers), 60,
                       f"{system.workers} workers owning every lane", alive=running.alive)
        base = (rep + 1) * 10_000_000
        account = CpuAccount(running.cpu_seconds, args.settle)
        account.measure_rest()
        load(api_url, args.warmup, 1, 0.0, base, 60)
        first = account.pause()
        account.start()
        redis_cpu0 = sum(redis_proc.cpu_times()[:2])
        client.config_resetstat()
        ours = [*running.processes(), redis_proc, emulator, psutil.Process()]
        with HostProbe() as probe, OthersCpu(lambda: sum(process_cpu(p) for p in ours)) as others:
            burst = load(api_url, args.burst, 1, 0.0, base + 1_000_000, 120)     # the machine's state meanwhile
        account.pause()
        guide = load(api_url, args.guide, 10, 0.1, base + 2_000_000, 10)
        account.pause()                           # the work the phases left (refills) is counted too
        settled = first + account.paused
        cpu = account.work()                      # ... but not what the system burns at rest in the pauses
        redis_cpu = sum(redis_proc.cpu_times()[:2]) - redis_cpu0
        commands = redis_commands(client) - 2     # CONFIG RESETSTAT and INFO are ours
        rss_worker, rss_total = running.rss_mb()
        time.sleep(0.6)                           # the round-trip reports are rewritten every 0.25 s
        trips, handled = running.round_trips()
    finally:
        running.stop()
        client.close()
    updates = burst.sent + guide.sent
    return {"system": name, "rep": rep, "updates_per_s": burst.throughput, "burst_success": burst.success_rate,
            "p50_ms": guide.p50_ms, "p95_ms": guide.p95_ms, "p99_ms": guide.p99_ms, "max_ms": guide.max_ms,
            "success": guide.success_rate, "cpu_per_1000": 1000 * cpu / updates,
            "redis_cpu_per_1000": 1000 * redis_cpu / updates if system.kind == "botrunner" else 0.0,
            "cpu_total_per_1000": 1000 * (cpu + (redis_cpu if system.kind == "botrunner" else 0.0)) / updates,
            "rss_worker_mb": rss_worker, "rss_total_mb": rss_total,
            "db_per_update": trips / handled if handled else 0.0,
            "redis_per_update": commands / updates if system.kind == "botrunner" else 0.0, "settle_s": settled,
            "rest_share": account.rest, "probe_us": probe.median_us(), "others_cores": others.cores}


def process_cpu(process: psutil.Process) -> float:
    """User + system CPU seconds of a process (0.0 once it is gone)."""
    try:
        times = process.cpu_times()
        return times.user + times.system
    except psutil.NoSuchProcess:
        return 0.0


def rest_text(share: float | None) -> str:
    """The share of a core at rest taken out of the pauses, as the progress line shows it."""
    return "never at rest: nothing taken out" if share is None else f"{share * 100:.0f} % of a core at rest"


def interleaved(names: list[str], repeats: int) -> list[tuple[int, str]]:
    """Repetition r runs every system, starting one further along, so no system always goes first."""
    return [(rep, names[(rep + i) % len(names)]) for rep in range(repeats) for i in range(len(names))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="*", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--repeats", type=int, default=5, help="runs per system (the table shows min/median/max)")
    parser.add_argument("--burst", type=int, default=2000, help="/start injected at once (throughput)")
    parser.add_argument("--guide", type=int, default=1000, help="/start in the guide's test (10 batches, 100 ms)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--settle", type=float, default=60.0,
                        help="at most this many seconds of quiet before each phase and after the last "
                             "(until the bot is idle); 0: phases back to back")
    parser.add_argument("--handlers", default="benchmarks.peers.botrunner_bot:router",
                        help="BOT_HANDLERS for botrunner (e.g. handlers.app:router for the real bot)")
    parser.add_argument("--workload", choices=("register", "reply"), default="register",
                        help="register: /start registers the user in SQLite, then replies; reply: the reply only")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="also run each botrunner system from this checkout (its own .venv): before/after in one run")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    if args.baseline:
        args.systems += add_baseline(args.baseline, args.systems)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    shown = [("CHECKOUT" if prev == "--baseline" else arg) for prev, arg in zip(["", *sys.argv[1:]], sys.argv[1:])]
    command = "make bench" if len(sys.argv) == 1 else "python benchmarks/compare.py " + " ".join(shown)
    results, started = [], time.monotonic()
    with tempfile.TemporaryDirectory(prefix="br-compare-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        emulator, api_url = start_emulator()
        control = ControlClient(api_url)
        try:
            plan = interleaved(args.systems, args.repeats)
            for number, (rep, name) in enumerate(plan, 1):
                result = measure(name, rep, args, api_url, control, server, Path(tmp), psutil.Process(emulator.pid))
                results.append(result)
                print(f"[{number:>2}/{len(plan)}] {name:<12} rep {rep + 1}: {result['updates_per_s']:7.0f} updates/s, "
                      f"p99 {result['p99_ms']:7.1f} ms, success {result['success'] * 100:5.1f} %, "
                      f"CPU {result['cpu_total_per_1000']:.2f} s/1000 incl. Redis, host probe {result['probe_us']:.0f} us, "
                      f"others {result['others_cores']:.2f} cores, "
                      f"{result['settle_s']:.1f} s at rest ({rest_text(result['rest_share'])})", flush=True)
        except KeyboardInterrupt:
            print("interrupted: stopping everything", file=sys.stderr)
            return 130
        finally:
            control.close()
            stop(emulator, 10)
    write = write_reply_section if args.workload == "reply" else write_markdown
    path = write(results, args, command, time.monotonic() - started, Path(args.out))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
