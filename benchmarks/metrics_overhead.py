"""What metrics cost: the hooks one update runs, and rendering a scrape, in prometheus_client's multiprocess mode.

    .venv/bin/python benchmarks/metrics_overhead.py                     # 100000 updates, 8 processes
    .venv/bin/python benchmarks/metrics_overhead.py --updates 20000 --processes 32

The hooks are the ones a handled /start runs in a worker (intake by type, handler timer, three user
cache and database round trips, a send, a limiter wait, completion with its latency), writing to
per-process mmap files in a temporary PROMETHEUS_MULTIPROC_DIR, as under `botrunner start`.
The scrape renders every process's files (forked children that each recorded a day's worth of
label combinations) without the Redis snapshot, which is a separate round trip.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from botrunner.config.settings import load_settings  # noqa: E402
from botrunner.metrics import multiproc, record  # noqa: E402

ROUTES = ["command:start", "command:help", "command:points", "state:captcha", "callback:m:tasks", "text", "default"]


def one_update(n: int) -> None:
    record.intake("poll", [{"update_id": n, "message": {}}], 0, 0)
    with record.handler_timer("command:start"):
        pass
    record.cache_lookup("l1")
    for operation in ("query", "begin", "execute"):
        with record.db_timer("sqlite", operation):
            pass
    record.limiter_waited(0.001)
    record.send("sendMessage", "ok")
    record.update_done(f"{int(time.time() * 1000)}-0", "command:start")


def hooks_per_update_us(updates: int) -> float:
    one_update(0)
    started = time.perf_counter()
    for n in range(updates):
        one_update(n)
    return (time.perf_counter() - started) / updates * 1e6


def fill_processes(count: int) -> None:
    """Fork `count` children that each record every route and method once, like long-lived workers."""
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            for route in ROUTES:
                with record.handler_timer(route):
                    pass
                record.update_done("0-0", route)
            for method in ("sendMessage", "editMessageText", "answerCallbackQuery", "sendPhoto"):
                for result in ("ok", "429", "403", "error", "retry"):
                    record.send(method, result)
            record.worker_alive(100e6)
            os._exit(0)
        os.waitpid(pid, 0)


def scrape_ms(repeats: int = 20) -> tuple[float, int]:
    from botrunner.metrics.cluster import Snapshot
    from botrunner.metrics.http import render
    started = time.perf_counter()
    for _ in range(repeats):
        body = render(Snapshot())
    return (time.perf_counter() - started) / repeats * 1000, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="br-metrics-") as state:
        multiproc.prepare(load_settings(environ={"STATE_DIR": state}, env_file=None))
        per_update = hooks_per_update_us(args.updates)
        fill_processes(args.processes)
        render_ms, size = scrape_ms()
        files = len(list(Path(state, "metrics").glob("*.db")))
    print(f"hooks per handled update: {per_update:.1f} us ({args.updates} updates, one process)")
    print(f"scrape render: {render_ms:.1f} ms for {files} files from {args.processes + 1} processes, {size} bytes")


if __name__ == "__main__":
    main()
