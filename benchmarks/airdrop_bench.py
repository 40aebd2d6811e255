"""Airdrop bot one-off jobs: `migrate from-node` throughput and the streamed export's rate and memory.

    .venv/bin/python benchmarks/airdrop_bench.py                     # 20,000 users, 5 ledger rows each
    .venv/bin/python benchmarks/airdrop_bench.py --users 100000 --ledger 3

The Node database is mongomock (in-process): the migration numbers are botrunner's mapping and
SQLite writes plus mongomock's reads, NOT a real MongoDB's. The export reads the SQLite store the
migration filled and writes gzip parts; the peak RSS shows memory does not grow with users.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mongomock
from bson import ObjectId

from handlers import export
from storage.node_import.migrate import NodeMigration
from storage.sqlite.backend import SQLiteStore


def node_database(users: int, ledger: int):
    db = mongomock.MongoClient()["telegram_airdrop_bot"]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    db.users.insert_many([{"_id": ObjectId(), "id": str(10**6 + i), "username": f"u{i}", "firstName": f"F{i}",
                           "points": 10 * ledger, "totalEarned": 10 * ledger, "isVerified": True,
                           "referralCode": f"REF{i}X", "registeredAt": now - timedelta(days=3)}
                          for i in range(users)])
    db.point_transactions.insert_many([{"_id": ObjectId(), "id": f"t{i}-{k}", "userId": str(10**6 + i),
                                        "amount": 10, "type": "task", "createdAt": now - timedelta(hours=k)}
                                       for i in range(users) for k in range(ledger)])
    return db


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--ledger", type=int, default=5, help="ledger rows per user")
    args = parser.parse_args()
    source = node_database(args.users, args.ledger)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(str(Path(tmp) / "store.sqlite3"))
        store.init_schema()
        started = time.perf_counter()
        report = NodeMigration(source, store).run()
        took = time.perf_counter() - started
        rows = args.users * (1 + args.ledger)
        print(f"migrate: {args.users} users + {args.users * args.ledger} ledger rows in {took:.1f} s "
              f"({rows / took:,.0f} rows/s); imported {report.counts['users'].imported} users, "
              f"{report.balance_differences} balance differences")
        before = rss_mb()
        started = time.perf_counter()
        out = Path(tmp) / "export"
        out.mkdir()
        parts = export.write_parts(store.users.iter_all(), out)
        took = time.perf_counter() - started
        size = sum(p.stat().st_size for p, _ in parts)
        print(f"export: {sum(r for _, r in parts)} users in {took:.1f} s ({args.users / took:,.0f} users/s), "
              f"{len(parts)} part(s), {size / 1e6:.1f} MB gzip; peak RSS {before:.0f} MB before, "
              f"{rss_mb():.0f} MB after")
        store.close()


if __name__ == "__main__":
    main()
