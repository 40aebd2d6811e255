"""The admin web API on a large user table: keyset pages stay as fast deep in the list as at its
start, and the users.csv export streams with flat memory.

    .venv/bin/python benchmarks/admin_api.py                    # 100,000 users on SQLite
    .venv/bin/python benchmarks/admin_api.py --users 300000

In process: an embedded redis-server, a SQLite store filled in bulk (import_records), and the
workers' HTTP server with the admin web mounted (as a worker starts it), driven over HTTP by a
signed-in httpx client. Reports the latency of a users page at the start and after walking N pages
(p50/p95 of 50 requests each), a name-prefix search, GET /stats, and the export's rows/s with the
process's peak RSS before and after it (a streamed export does not grow with the table). Prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botrunner.supervisor.embedded_redis import EmbeddedRedis
from storage.records import User

BATCH = 5000


def timed(call, repeats: int = 50) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = call()
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def fill(store, users: int) -> None:
    now = time.time()
    for start in range(1, users + 1, BATCH):
        rows = [User(uid, f"user{uid}", first_name=("Anna" if uid % 7 == 0 else "Bob"), registered_at=now,
                     last_active_at=now, points=uid % 500, referral_code=f"C{uid}") for uid in
                range(start, min(users, start + BATCH - 1) + 1)]
        store.import_records("users", rows)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--deep-pages", type=int, default=200)
    args = parser.parse_args()
    import redis

    from handlers.app import build_runtime
    from storage.factory import open_worker_storage, redis_client
    from tests.admin_web.conftest import ADMIN, Site, site_settings
    with tempfile.TemporaryDirectory(prefix="admin-bench-") as tmp:
        server = EmbeddedRedis(tmp).start()
        try:
            settings = site_settings(server.url, Path(tmp))
            storage = open_worker_storage(settings)
            started = time.perf_counter()
            fill(storage.store, args.users)
            filled_s = time.perf_counter() - started
            rt = build_runtime(settings, storage, redis_client(settings, settings.redis_session_db))
            site = Site(settings, storage, rt, redis.Redis.from_url(settings.redis_url_for(settings.redis_dedup_db)))
            site.start()
            try:
                report(site, args, filled_s, ADMIN)
            finally:
                site.stop()
                storage.close()
        finally:
            server.stop()


def report(site, args, filled_s: float, admin_id: int) -> None:
    client = site.signed_in(admin_id)
    first = timed(lambda: client.get("/admin/api/users", params={"limit": 50}))
    after = None
    for _ in range(args.deep_pages):
        after = client.get("/admin/api/users", params={"limit": 50, **({"after": after} if after else {})}).json()["next"]
    deep = timed(lambda: client.get("/admin/api/users", params={"limit": 50, "after": after}))
    prefix = timed(lambda: client.get("/admin/api/users", params={"q": "ann", "limit": 50}))
    exact = timed(lambda: client.get("/admin/api/users", params={"q": f"C{args.users // 2}"}))
    stats = timed(lambda: client.get("/admin/api/stats"), repeats=10)
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    with client.stream("GET", "/admin/api/export/users.csv") as answer:
        rows = sum(1 for _ in answer.iter_lines()) - 1          # less the header
    export_s = time.perf_counter() - started
    rss_after = peak_rss_mb()
    assert rows == args.users, rows
    print(f"| Admin API, {args.users:,} users (SQLite) | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, (p50, p95) in (("users page 1", first), (f"users page {args.deep_pages + 1} (keyset)", deep),
                             ("name-prefix search", prefix), ("exact search (referral code)", exact),
                             ("GET /stats", stats)):
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")
    print(f"\nusers.csv: {rows:,} rows in {export_s:.1f} s ({rows / export_s:,.0f} rows/s); peak RSS "
          f"{rss_before:.0f} MB before, {rss_after:.0f} MB after (server and client in one process); "
          f"table filled in {filled_s:.1f} s")


if __name__ == "__main__":
    main()
