"""What differs between a fast and a slow run of the reply-only burst: per-run facts, not only the rate.

    python benchmarks/burst_facts.py --workers 2 --runs 5
    python benchmarks/burst_facts.py --workers 2 --runs 4 --bursts 2 --baseline CHECKOUT   # ABBA against a checkout

Each run starts botrunner fresh (emptied Redis, all lanes owned), as compare.py does, warms it up, waits
until it is at rest, then injects --burst reply-only /start at once (--bursts times, at rest in between)
and prints one line per burst: the rate; when intake had stored the whole burst in the lanes (the
poller's share of the time); per worker its CPU per 1000 updates, the updates it handled, its lanes
and whether it held the poll lease; the local Bot API server's and Redis' CPU; XREADGROUP calls and
entries per read; Redis socket reads per update (how many calls share a round trip); the host probe
(benchmarks/host_probe.py: how slow the machine's cores were during the burst) and how many cores the
rest of the machine used meanwhile. With --baseline the
runs alternate A B B A between this tree and the checkout (its own .venv), so the machine's load
falls on both alike.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compare import TOKEN, fresh_state, load  # noqa: E402
from benchmarks.compare import process_cpu as cpu  # noqa: E402
from benchmarks.host_probe import HostProbe, OthersCpu  # noqa: E402
from benchmarks.systems import LANES, SYSTEMS, Running, botrunner_ready, settle  # noqa: E402
from botrunner.emulator.client import ControlClient  # noqa: E402
from botrunner.redis_keys import Keys  # noqa: E402
from botrunner.supervisor.embedded_redis import EmbeddedRedis  # noqa: E402
from botrunner.tools.local_runs import start_emulator, stop, wait_until  # noqa: E402

KEYS = Keys.for_token(TOKEN)


class IntakeClock(threading.Thread):
    """The seconds from start until the lanes hold `target` entries (every 20 ms: XLEN of every lane)."""

    def __init__(self, url: str, target: int) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.target = target
        self.done_s: float | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while self.done_s is None and not self.stopping.wait(0.02):
            if stored(self.client) >= self.target:
                self.done_s = time.monotonic() - started


def stored(client: redis.Redis) -> int:
    pipe = client.pipeline(transaction=False)
    for lane in range(LANES):
        pipe.xlen(KEYS.lane(lane))
    return sum(pipe.execute())


def handled(stats_dir: Path) -> dict[str, int]:
    """Updates handled so far per worker pid (the benchmark bot's reports)."""
    return {path.stem: json.loads(path.read_text())["updates"] for path in stats_dir.glob("*.json")}


def one_run(root: Path, label: str, run: int, args, api_url: str, control: ControlClient, server: EmbeddedRedis,
            tmp: Path, emulator_pid: int) -> list[dict]:
    system = dataclasses.replace(SYSTEMS[f"botrunner-{args.workers}"], root=root)
    client = redis.Redis.from_url(server.url)
    state = fresh_state(control, client, tmp / f"{label}-{run}")
    running = Running(system, api_url, TOKEN, server.url, state, workload=args.workload)
    facts = []
    try:
        wait_until(lambda: control.poll_stats(TOKEN)["total_calls"] > 0, 60, "the poller", alive=running.alive)
        wait_until(lambda: botrunner_ready(client, KEYS, system.workers), 60, "every lane owned", alive=running.alive)
        base = (run + 1) * 10_000_000
        load(api_url, args.warmup, 1, 0.0, base, 60)
        settle(running.cpu_seconds, args.settle)
        owners = Counter(raw.decode().split(":")[1] for raw in client.mget([KEYS.lane_owner(n) for n in range(LANES)]))
        poll_holder = (client.get(KEYS.poll_lease) or b"::").decode().split(":")[2]
        workers = psutil.Process(running.proc.pid).children()
        others = {"server": psutil.Process(emulator_pid), "redis": psutil.Process(server.process.pid)}
        for burst in range(args.bursts):
            facts.append(one_burst(args, api_url, client, server, running, workers, others, owners, poll_holder,
                                   base + 1_000_000 * (burst + 1)) | {"label": label, "run": run, "burst": burst})
            print(line(facts[-1]), flush=True)
            settle(running.cpu_seconds, args.settle)
    finally:
        running.stop()
        client.close()
    return facts


def one_burst(args, api_url, client, server, running, workers, others, owners, poll_holder, first_user) -> dict:
    before = {"cpu": [cpu(w) for w in workers], "others": {k: cpu(p) for k, p in others.items()},
              "handled": handled(running.stats_dir)}
    client.config_resetstat()
    clock = IntakeClock(server.url, stored(client) + args.burst)
    clock.start()
    ours = [*workers, *others.values(), psutil.Process(running.proc.pid), psutil.Process()]
    with HostProbe() as probe, OthersCpu(lambda: sum(cpu(p) for p in ours)) as rest:
        result = load(api_url, args.burst, 1, 0.0, first_user, 120)
    clock.stopping.set()
    clock.join()
    stats, commands = client.info("stats"), client.info("commandstats")
    time.sleep(0.6)                     # the bot's reports are rewritten every 0.25 s
    after = handled(running.stats_dir)
    per_worker = [{"pid": w.pid, "cpu_per_1000": 1000 * (cpu(w) - c) / args.burst,
                   "handled": after.get(str(w.pid), 0) - before["handled"].get(str(w.pid), 0),
                   "lanes": owners.get(str(w.pid), 0), "polls": str(w.pid) == poll_holder}
                  for w, c in zip(workers, before["cpu"])]
    reads = commands.get("cmdstat_xreadgroup", {}).get("calls", 0)
    return {"updates_per_s": result.throughput, "intake_s": clock.done_s, "workers": per_worker,
            "workers_cpu_per_1000": sum(w["cpu_per_1000"] for w in per_worker),
            **{f"{k}_cpu_per_1000": 1000 * (cpu(p) - before["others"][k]) / args.burst for k, p in others.items()},
            "xreadgroup": reads, "entries_per_read": args.burst / reads if reads else 0.0,
            "redis_reads_per_update": int(stats["total_reads_processed"]) / args.burst,
            "probe_us": probe.median_us(), "others_cores": rest.cores, "load": psutil.getloadavg()[0]}


def line(f: dict) -> str:
    workers = " ".join(f"[{w['cpu_per_1000']:.2f} s, {w['handled']} upd, {w['lanes']} lanes{', polls' if w['polls'] else ''}]"
                       for w in f["workers"])
    intake = f"{f['intake_s']:.2f} s" if f["intake_s"] is not None else "?"
    return (f"{f['label']} run {f['run'] + 1} burst {f['burst'] + 1}: {f['updates_per_s']:6.0f}/s, intake {intake}, "
            f"workers {f['workers_cpu_per_1000']:.2f} s/1000 {workers}, server {f['server_cpu_per_1000']:.2f}, "
            f"redis {f['redis_cpu_per_1000']:.2f} (workers / server {ratio(f):.2f}), "
            f"{f['xreadgroup']} reads ({f['entries_per_read']:.1f}/read), "
            f"{f['redis_reads_per_update']:.2f} Redis reads/upd, host probe {f['probe_us']:.0f} us, "
            f"others {f['others_cores']:.2f} cores, load {f['load']:.1f}")


def summary(label: str, facts: list[dict]) -> str:
    rates = [f["updates_per_s"] for f in facts]
    median = statistics.median(rates)
    return (f"{label}: {len(rates)} bursts, updates/s min / median / max {min(rates):.0f} / {median:.0f} / "
            f"{max(rates):.0f} (-{100 * (1 - min(rates) / median):.0f} / +{100 * (max(rates) / median - 1):.0f} %), "
            f"workers {statistics.median(f['workers_cpu_per_1000'] for f in facts):.2f} s/1000 (median), "
            f"workers / server CPU {statistics.median(ratio(f) for f in facts):.2f} (median; the host's speed cancels), "
            f"rate vs host probe: correlation {correlation(rates, [f['probe_us'] for f in facts]):+.2f}")


def ratio(f: dict) -> float:
    """Workers' CPU over the local Bot API server's in the same burst: the server's work per update is the
    same whatever the bot does, so a slow host inflates both alike."""
    return f["workers_cpu_per_1000"] / f["server_cpu_per_1000"] if f["server_cpu_per_1000"] else 0.0


def correlation(xs: list[float], ys: list[float]) -> float:
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:      # fewer than two bursts, or one of them constant
        return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, choices=(1, 2, 4), default=2)
    parser.add_argument("--runs", type=int, default=5, help="fresh starts (per tree with --baseline)")
    parser.add_argument("--bursts", type=int, default=1, help="bursts per start")
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--settle", type=float, default=10.0, help="at most this long at rest before each burst")
    parser.add_argument("--workload", choices=("reply", "register"), default="reply",
                        help="register: the benchmark bot's /start into SQLite, as in make bench's table")
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout of the code before (its own .venv)")
    args = parser.parse_args()
    trees = [(ROOT, "this tree")] + ([(args.baseline.resolve(), "baseline")] if args.baseline else [])
    plan = [trees[(i + (run % 2)) % len(trees)] for run in range(args.runs) for i in range(len(trees))]
    facts: dict[str, list[dict]] = {label: [] for _, label in trees}
    with tempfile.TemporaryDirectory(prefix="br-facts-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        emulator, api_url = start_emulator()
        control = ControlClient(api_url)
        try:
            for run, (root, label) in enumerate(plan):
                facts[label] += one_run(root, label, run, args, api_url, control, server, Path(tmp), emulator.pid)
        finally:
            control.close()
            stop(emulator, 10)
    for label, found in facts.items():
        print(summary(label, found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
