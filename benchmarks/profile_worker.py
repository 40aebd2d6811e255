"""Profile a botrunner worker under load with py-spy (sampling; the worker is not modified).

    .venv/bin/python benchmarks/profile_worker.py                    # 1 worker, 8 bursts of 2000 /start
    .venv/bin/python benchmarks/profile_worker.py --workers 2 --out /tmp/worker.txt
    .venv/bin/python benchmarks/profile_worker.py --workload reply --gil  # the runner's own Python time
    .venv/bin/python benchmarks/profile_worker.py --handlers handlers.app:router --limits --workers 4  # the airdrop bot
    .venv/bin/python benchmarks/profile_worker.py --workload reply --workers 2 --bursts 4 --cpu --repeats 5 \
        --baseline CHECKOUT        # process CPU per 1000 updates, this tree and CHECKOUT interleaved

Starts the local Bot API server, a private Redis and `botrunner start` with the benchmark bot, attaches
`py-spy record --format raw` (collapsed stacks) to one worker while bursts run, and prints the functions
with the most samples (own time and including callees).

`--cpu` attaches nothing: it reads each process's user and system CPU time (psutil) before and after the
bursts and prints them per 1000 updates, for the supervisor, every worker, Redis and the local Bot API
server, with the Redis commands and socket reads per update and the workers' context switches per update
(all their threads; involuntary: preempted by the kernel, voluntary: waiting on a socket, a lock, a
sleep). Sampled profiles count the time a process holding the GIL is descheduled; CPU time does not,
so before/after claims use this. With `--baseline`,
each repetition runs this tree and the other checkout (its own .venv) in turn, each with a fresh Redis,
against one local Bot API server, and the medians are printed last.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compare import TOKEN  # noqa: E402
from benchmarks.systems import Running, System, botrunner_ready  # noqa: E402
from botrunner.emulator.client import ControlClient  # noqa: E402
from botrunner.redis_keys import Keys  # noqa: E402
from botrunner.supervisor.embedded_redis import EmbeddedRedis  # noqa: E402
from botrunner.tools.loadtest import run_load  # noqa: E402
from botrunner.tools.local_runs import start_emulator, stop, wait_until  # noqa: E402
from storage.sqlite.backend import SQLiteStore  # noqa: E402


def top_functions(collapsed: Path, limit: int) -> list[str]:
    """Own and inclusive sample counts per function from py-spy's collapsed stacks."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{total} samples", "own:"]
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in own.most_common(limit)]
    lines += ["inclusive:"] + [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in inclusive.most_common(limit)]
    return lines


RATE = 250      # py-spy samples per second
# the shares docs/benchmarks.md quotes: a sample counts for every area one of its frames is in
AREAS = {"send path (Bot API calls)": ("BotApiClient.call",),
         "Redis (pipelines, reads, their socket writes)": ("redis/", "ScriptBatcher"),
         "parsing the update (Update.de_json)": ("Update.de_json",),
         "handler thread hop (queue, executor, futures)": ("HandlerPool.run", "run_in_executor",
                                                           "ThreadPoolExecutor.submit", "call_soon_threadsafe"),
         "handlers and the router (in the threads)": ("Router.handle",),
         "captcha pictures (rendered ahead or on demand)": ("CaptchaPool._fresh",),
         "multipart uploads (the lean form)": ("upload_body",)}


def areas(collapsed: Path, updates: int, rate: int = RATE) -> list[str]:
    """Share of the samples per area of the hot path (AREAS), and the sampled seconds per 1000 updates."""
    counts, total = collections.Counter(), 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for area, needles in AREAS.items():
            if any(needle in stack for needle in needles):
                counts[area] += int(count)
    per_1000 = 1000 / rate / max(1, updates)
    return [f"areas (of {total * per_1000:.3f} s sampled per 1000 updates):"] + [
        f"  {100 * counts[area] / max(1, total):5.1f} %  {counts[area] * per_1000:.3f} s  {area}" for area in AREAS]


def cpu_times(processes: dict[str, psutil.Process]) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds of each named process so far."""
    times = {}
    for name, process in processes.items():
        try:
            spent = process.cpu_times()
            times[name] = (spent.user, spent.system)
        except psutil.NoSuchProcess:
            times[name] = (0.0, 0.0)
    return times


def context_switches(process: psutil.Process) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of every live thread of `process` so far. The kernel
    counts them per thread (psutil's num_ctx_switches reads the main thread's only); a thread that
    ended takes its count with it, so compare processes whose threads live through the run."""
    voluntary = involuntary = 0
    try:
        threads = [thread.id for thread in process.threads()]
    except psutil.NoSuchProcess:
        return 0, 0
    for tid in threads:
        try:
            switches = psutil.Process(tid).num_ctx_switches()
        except psutil.NoSuchProcess:
            continue
        voluntary, involuntary = voluntary + switches.voluntary, involuntary + switches.involuntary
    return voluntary, involuntary


def switch_counts(processes: dict[str, psutil.Process]) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of the workers (every process named "worker ...")."""
    counts = [context_switches(p) for name, p in processes.items() if name.startswith("worker ")]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def redis_counts(client: redis.Redis) -> tuple[int, int, dict[str, int]]:
    """(commands processed, socket reads processed, calls by command) by Redis so far; a script's own
    redis.call()s count under their command as well as under EVALSHA."""
    stats, commands = client.info("stats"), client.info("commandstats")
    calls = {name.removeprefix("cmdstat_").upper(): int(v["calls"]) for name, v in commands.items()}
    return int(stats["total_commands_processed"]), int(stats.get("total_reads_processed", 0)), calls


def cpu_run(args: argparse.Namespace, api_url: str, server_pid: int, root: Path) -> dict[str, float]:
    """One run of the bursts against `root`'s botrunner with a fresh Redis: CPU seconds per 1000 updates by
    process (user + sys, and sys alone), Redis commands and reads per update, the median burst rate."""
    with tempfile.TemporaryDirectory(prefix="br-cpu-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        state = Path(tmp) / "state"
        state.mkdir()
        SQLiteStore(str(state / "bench.sqlite3")).init_schema()
        client = redis.Redis.from_url(server.url)
        running = Running(System("botrunner", "botrunner", args.workers, limits=args.limits, root=root), api_url,
                          TOKEN, server.url, state, args.handlers, args.workload)
        try:
            wait_until(lambda: botrunner_ready(client, Keys.for_token(TOKEN), args.workers), 60, "the workers",
                       alive=running.alive)
            supervisor, *workers = running.processes()
            processes = {"supervisor": supervisor, **{f"worker {n + 1}": w for n, w in enumerate(workers)},
                         "redis": psutil.Process(server.process.pid), "Bot API server": psutil.Process(server_pid)}
            before, counts, switches = cpu_times(processes), redis_counts(client), switch_counts(processes)
            rates = [asyncio.run(run_load(api_url, TOKEN, requests=args.burst, batches=1, interval=0.0,
                                          first_user=(n + 1) * 1_000_000, reply_timeout=120,
                                          show_progress=False)).summary().throughput for n in range(args.bursts)]
            after, counts_after, switches_after = cpu_times(processes), redis_counts(client), switch_counts(processes)
        finally:
            running.stop()
            client.close()
    updates = args.bursts * args.burst
    per_1000 = 1000 / updates
    row = {"updates/s": statistics.median(rates),
           "Redis commands/update": (counts_after[0] - counts[0]) / updates,
           "Redis reads/update": (counts_after[1] - counts[1]) / updates,
           "workers' voluntary switches/update": (switches_after[0] - switches[0]) / updates,
           "workers' involuntary switches/update": (switches_after[1] - switches[1]) / updates}
    for name in sorted(counts_after[2], key=lambda n: counts[2].get(n, 0) - counts_after[2][n]):
        if name not in ("INFO", "CONFIG|RESETSTAT"):
            row[f"  {name}/update"] = (counts_after[2][name] - counts[2].get(name, 0)) / updates
    for name in processes:
        row[name] = sum(after[name]) * per_1000 - sum(before[name]) * per_1000
        row[f"{name} sys"] = (after[name][1] - before[name][1]) * per_1000
    row["workers"] = sum(v for k, v in row.items() if k.startswith("worker ") and not k.endswith(" sys"))
    row["runner incl. Redis"] = row["workers"] + row["supervisor"] + row["redis"]
    return row


def cpu_report(args: argparse.Namespace) -> int:
    """--cpu: process CPU per 1000 updates, this tree (and --baseline's) interleaved, --repeats times; the
    order alternates (ABBA), so a load that rises or falls during the run weighs on both trees alike."""
    roots = {"this tree": ROOT} | ({"baseline": Path(args.baseline).resolve()} if args.baseline else {})
    emulator, api_url = start_emulator()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    try:
        for repeat in range(args.repeats):
            for name, root in (list(roots.items()) if repeat % 2 == 0 else list(roots.items())[::-1]):
                row = cpu_run(args, api_url, emulator.pid, root)
                runs[name].append(row)
                print(f"run {repeat + 1} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    finally:
        stop(emulator, 10)
    print(f"CPU seconds per 1000 updates (user + sys), median of {args.repeats}; load average at the end: "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    for key in runs["this tree"][0]:
        print(f"  {key:38s}" + "".join(f"  {name} {statistics.median(r.get(key, 0.0) for r in rows):8.3f}"
                                       for name, rows in runs.items()))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--bursts", type=int, default=8)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default=None, help="keep the collapsed stacks here")
    parser.add_argument("--workload", choices=("register", "reply"), default="register",
                        help="reply: /start replies without touching the database (what the runner costs)")
    parser.add_argument("--gil", action="store_true", help="only sample the thread holding the GIL (CPU in Python)")
    parser.add_argument("--handlers", default="benchmarks.peers.botrunner_bot:router",
                        help="BOT_HANDLERS (handlers.app:router: the airdrop bot)")
    parser.add_argument("--limits", action="store_true", help="Telegram's pacing as shipped (SEND_LIMITS=true)")
    parser.add_argument("--cpu", action="store_true", help="no py-spy: user + sys CPU per 1000 updates per process")
    parser.add_argument("--repeats", type=int, default=1, help="--cpu: runs of each tree, interleaved")
    parser.add_argument("--baseline", default=None, help="--cpu: another checkout (with its own .venv) run in turn")
    args = parser.parse_args()
    if args.cpu:
        return cpu_report(args)
    with tempfile.TemporaryDirectory(prefix="br-profile-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        emulator, api_url = start_emulator()
        state = Path(tmp) / "state"
        state.mkdir()
        SQLiteStore(str(state / "bench.sqlite3")).init_schema()
        running = spy = None
        control = ControlClient(api_url)
        try:
            running = Running(System("botrunner", "botrunner", args.workers, limits=args.limits), api_url, TOKEN,
                              server.url, state, args.handlers, args.workload)
            wait_until(lambda: botrunner_ready(redis.Redis.from_url(server.url), Keys.for_token(TOKEN), args.workers),
                       60, "the workers", alive=running.alive)
            worker = running.processes()[1].pid
            collapsed = Path(args.out or Path(tmp) / "stacks.txt")
            spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(worker), "--format", "raw",
                                    "--output", str(collapsed), "--rate", str(RATE), "--nonblocking",
                                    *(["--gil"] if args.gil else [])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            rates = []
            for n in range(args.bursts):
                summary = asyncio.run(run_load(api_url, TOKEN, requests=args.burst, batches=1, interval=0.0,
                                               first_user=(n + 1) * 1_000_000, reply_timeout=120,
                                               show_progress=False)).summary()
                rates.append(summary.throughput)
            spy.send_signal(2)
            spy.wait(30)
            print(f"bursts: {', '.join(f'{r:.0f}' for r in rates)} updates/s (median {sorted(rates)[len(rates) // 2]:.0f})")
            print("\n".join(top_functions(collapsed, args.top)))
            print("\n".join(areas(collapsed, args.bursts * args.burst)))
        finally:
            if spy and spy.poll() is None:
                spy.kill()
            if running:
                running.stop()
            control.close()
            stop(emulator, 10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
