"""Broadcast rate: a real `botrunner start` (one worker, handlers.app, SQLite) sends one broadcast to
`--users` recipients through the local Bot API server with its flood limits ON (global limit =
the bot's SEND_GLOBAL_RATE, no reply window), and this script reports the achieved rate against
the configured one, the 429s the bot received, and the worker's RSS before, during and after.

    .venv/bin/python benchmarks/broadcast_rate.py --users 20000 --rate 1000
    .venv/bin/python benchmarks/broadcast_rate.py --users 1800 --rate 30          # the default rate
    .venv/bin/python benchmarks/broadcast_rate.py --users 100000 --rate 1000 --repeat 3 \
        --before-tree ../old --before-label ee1d674 --write        # before/after, into docs/benchmarks.md

The rate is sent / (finish - first send) from the broadcast record, and also over the middle 80 %
of the run (sampled once a second) so start-up does not count. 429s are the sender's warnings in
the supervisor log. RSS is VmRSS of the worker process; CPU per send is the worker's CPU time over
the middle 80 % per recipient. `--before-tree` runs another checkout's runner and bot (PYTHONPATH
and working directory) in the same session, alternating with this one, so the ratio is measured
under the same load; `--write` puts the section (one per rate) into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.emulator_throughput import HOST, free_port, start_server
from benchmarks.sections import write_section
from botrunner.supervisor.embedded_redis import EmbeddedRedis
from storage.broadcast_records import Message, Segment
from storage.sqlite.backend import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "515151:broadcast-rate"
FIRST = 1_000_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_pid(supervisor: int, timeout_s: float = 120.0) -> int:
    """The supervisor's worker, once it is spawned (a loaded machine can take its time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(supervisor)], capture_output=True, text=True).stdout
        if out.split():
            return int(out.split()[0])
        time.sleep(0.5)
    raise SystemExit("no worker process")


def prepare(store: SQLiteStore, control: httpx.Client, users: int) -> None:
    """Registered users, each a private chat the server knows (as if each had written once)."""
    now = time.time()
    for start in range(0, users, 5000):
        with store.db.transaction() as tx:
            tx.executemany("INSERT INTO users (id, username, username_lc, language_code, registered_at, "
                           "last_active_at) VALUES (?, ?, ?, 'en', ?, ?)",
                           [(FIRST + i, f"u{i}", f"u{i}", now, now) for i in range(start, min(users, start + 5000))])
    for i in range(users):
        control.post("/__control/chat", json={"token": TOKEN, "chat_id": FIRST + i, "type": "private"}
                     ).raise_for_status()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> float:
    return os.getloadavg()[0]


def run(users: int, rate: float, burst: int, server_burst: int, workdir: Path, tree: Path) -> dict[str, float]:
    """One broadcast to `users` recipients by the runner (and handlers) of the checkout `tree`."""
    port = free_port()
    emulator = start_server(port)
    api = f"http://{HOST}:{port}"
    redis_server = EmbeddedRedis(str(workdir / "redis")).start()
    control = httpx.Client(base_url=api, timeout=30)
    control.post("/__control/flood", json={"enabled": True, "reply_window_s": 0, "global_rate": rate,
                                            "global_burst": server_burst, "chat_rate": 1, "chat_burst": 3}).raise_for_status()
    state = workdir / "state"
    store = SQLiteStore(str(state / "botrunner.sqlite3"))
    store.init_schema()
    prepare(store, control, users)
    env = {**os.environ, "BOT_TOKEN": TOKEN, "REDIS_URL": redis_server.url, "STATE_DIR": str(state),
           "BOT_HANDLERS": "handlers.app:router", "SEND_GLOBAL_RATE": str(rate), "SEND_GLOBAL_BURST": str(burst),
           "BOTRUNNER_ENV_FILE": "/nonexistent", "PYTHONPATH": str(tree),
           "CAPTCHA_ENABLED": "false", "LOG_LEVEL": "info", "BROADCAST_CHECK_S": "0.5"}
    log_path = workdir / "supervisor.log"
    with open(log_path, "wb") as log:
        supervisor = subprocess.Popen([sys.executable, "-m", "botrunner", "start", "--workers", "1", "--api-url", api],
                                      env=env, cwd=tree, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        worker = worker_pid(supervisor.pid)
        time.sleep(5)                                    # its start-up is not part of the run
        rss_before = rss_mb(worker)
        load_before = load()
        draft = store.broadcasts.create(Message(text="benchmark broadcast"), Segment(), created_by=1)
        store.broadcasts.set_status(draft.id, "running")
        samples: list[tuple[float, int, float]] = []      # (monotonic, processed, worker CPU s)
        rss_peak = rss_before
        while True:
            b = store.broadcasts.get(draft.id)
            assert b is not None
            samples.append((time.monotonic(), b.processed, cpu_s(worker)))
            rss_peak = max(rss_peak, rss_mb(worker))
            if b.status == "done":
                break
            time.sleep(1.0)
        first = next(s for s in samples if s[1] > 0)
        low = next(s for s in samples if s[1] >= users * 0.1)
        high = next(s for s in samples if s[1] >= users * 0.9)
        log_text = log_path.read_text(errors="replace")
        limited = log_text.count("429 retry after")
        print("\n".join([line for line in log_text.splitlines() if "429" in line][:3]), file=sys.stderr)
        middle_s = max(1e-9, high[0] - low[0])
        return {"users": users, "configured": rate, "sent": b.sent, "failed": b.failed,
                "rate_record": b.sent / max(1e-9, (b.finished_at or 0) - (b.started_at or 0)),
                "rate_middle": (high[1] - low[1]) / middle_s,
                "cpu_ms": 1000 * (high[2] - low[2]) / max(1, high[1] - low[1]),
                "cpu_share": 100 * (high[2] - low[2]) / middle_s,
                "seconds": samples[-1][0] - first[0], "429s": limited,
                "rss_before": rss_before, "rss_peak": rss_peak, "rss_after": rss_mb(worker),
                "load_before": load_before, "load_after": load()}
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=30)
        emulator.terminate()
        redis_server.stop()
        store.close()
        control.close()


def row(label: str, r: dict[str, float]) -> str:
    return (f"| {label} | {r['rate_record']:.1f} | {r['rate_middle']:.1f} | "
            f"{100 * r['rate_middle'] / r['configured']:.1f} % | {r['429s']:.0f} | {r['failed']:.0f} | "
            f"{r['rss_before']:.0f} / {r['rss_peak']:.0f} / {r['rss_after']:.0f} | {r['cpu_ms']:.2f} | "
            f"{r['cpu_share']:.0f} % | {r['load_before']:.1f} -> {r['load_after']:.1f} |")


HEAD = ("| run | achieved /s (whole run) | achieved /s (middle 80 %) | of configured | 429s | failed "
        "| worker RSS MB before / peak / after | worker CPU ms per send | worker CPU (of a core) | load average |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |")


def summary(label: str, runs: list[dict[str, float]]) -> str:
    shares = sorted(100 * r["rate_middle"] / r["configured"] for r in runs)
    limited = sum(int(r["429s"]) for r in runs)
    return (f"| {label} | {statistics.median(shares):.1f} % | {shares[0]:.1f} % | {shares[-1]:.1f} % | {limited} "
            f"| {statistics.median(r['cpu_ms'] for r in runs):.2f} "
            f"| {statistics.median(r['rss_peak'] - r['rss_before'] for r in runs):+.0f} MB |")


def section(args: argparse.Namespace, results: list[tuple[str, list[dict[str, float]]]], command: str) -> str:
    rate = int(args.rate)
    lines = [f"<!-- broadcast-rate-{rate}:begin -->",
             f"### {args.users:,} recipients at {rate}/s",
             "",
             f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
             f"{args.repeat} run(s) of each version, interleaved"
             f"{' (the earlier version first in each round)' if len(results) > 1 else ''}; the server's bot-wide "
             f"limit {rate}/s with a burst of {args.server_burst or rate}, `SEND_GLOBAL_BURST={args.burst}`. "
             "Achieved = recipients per second from the broadcast's record (whole run) and over the middle 80 % "
             "(sampled once a second); CPU per send = the worker's user + system CPU over that middle part "
             "divided by the recipients processed in it; load average = the machine's 1-minute load before -> "
             "after the run (it is shared with other work).",
             "", HEAD]
    for label, runs in results:
        lines += [row(f"{label}, run {n}", r) for n, r in enumerate(runs, 1)]
    lines += ["", "| version | median of configured (middle 80 %) | min | max | 429s (all runs) "
              "| median CPU ms per send | median RSS growth (peak - before) |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [summary(label, runs) for label, runs in results]
    lines.append(f"<!-- broadcast-rate-{rate}:end -->")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="SEND_GLOBAL_RATE and the server's global limit")
    parser.add_argument("--burst", type=int, default=3, help="SEND_GLOBAL_BURST (its default: 3)")
    parser.add_argument("--server-burst", type=int, default=0,
                        help="the server's bot-wide burst (default: one second of --rate, the shape of its "
                             "own default of 30/s with a burst of 30)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each version")
    parser.add_argument("--before-tree", help="also run this checkout (an earlier version), alternating with this one")
    parser.add_argument("--before-label", default="before")
    parser.add_argument("--write", action="store_true", help="write the section into --docs")
    parser.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--save", help="append each run's numbers to this file (JSON lines); runs already in it "
                                       "are not run again, so a stopped session resumes")
    args = parser.parse_args()
    trees = [(args.before_label, Path(args.before_tree).resolve())] if args.before_tree else []
    trees.append(("this version" if trees else "botrunner", ROOT))
    results: list[tuple[str, list[dict[str, float]]]] = [(label, []) for label, _ in trees]
    saved = Path(args.save) if args.save else None
    if saved is not None and saved.exists():          # a session that stopped: its runs count, the rest follow
        for line in saved.read_text().splitlines():
            done = json.loads(line)
            for label, runs in results:
                if label == done["label"]:
                    runs.append(done["run"])
    print(HEAD, flush=True)
    for n in range(args.repeat):
        for (label, tree), (_, runs) in zip(trees, results):
            if len(runs) <= n:
                with tempfile.TemporaryDirectory(prefix="broadcast-rate-") as tmp:
                    runs.append(run(args.users, args.rate, args.burst, args.server_burst or max(1, int(args.rate)),
                                    Path(tmp), tree))
                if saved is not None:
                    with saved.open("a") as out:
                        out.write(json.dumps({"label": label, "run": runs[-1]}) + "\n")
            print(row(f"{label}, run {n + 1}", runs[n]), flush=True)
    shown, rest = [], iter(sys.argv[1:])      # the command as anyone can run it: no local paths
    for a in rest:
        if a in ("--docs", "--save"):
            next(rest, None)
        else:
            shown.append(f"<a checkout of {args.before_label}>" if a == args.before_tree else a)
    argv = " ".join(shown)
    text = section(args, results, f".venv/bin/python benchmarks/broadcast_rate.py {argv}".strip())
    print(text)
    if args.write:
        write_section(Path(args.docs), text, f"<!-- broadcast-rate-{int(args.rate)}:begin -->",
                      f"<!-- broadcast-rate-{int(args.rate)}:end -->")


if __name__ == "__main__":
    main()
