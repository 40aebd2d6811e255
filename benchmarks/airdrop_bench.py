"""Airdrop bot one-off jobs: `migrate from-node` throughput and the streamed export's rate and memory;
with --start, what a new user's /start costs in the bot's own code.

    .venv/bin/python benchmarks/airdrop_bench.py                     # 20,000 users, 5 ledger rows each
    .venv/bin/python benchmarks/airdrop_bench.py --users 100000 --ledger 3
    .venv/bin/python benchmarks/airdrop_bench.py --start 1000        # /start of 1000 new users, no runner
    valgrind --tool=cachegrind --cache-sim=no .venv/bin/python benchmarks/airdrop_bench.py --start 350 --same-picture
                                        # instructions: the same with --start 50, the difference / 300 per /start

--start runs the bot's router in this process (botrunner.bot.testing: no workers, no Bot API server)
on a real SQLite file and a private redis-server, with the worker's conversation store (RedisStates),
and reports CPU per /start of a new user (register, welcome, captcha) with the captcha picture taken
from a filled pool and drawn on demand, and the picture's own cost; and the Redis commands (the
server's INFO commandstats) and round trips (requests this process's clients sent) per /start.

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
from collections import Counter
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


class RedisTraffic:
    """Commands the server ran (INFO commandstats, without the INFO calls) and requests this process
    sent (one per command or per pipeline: a round trip), counted from a `snapshot` to the next."""

    def __init__(self, url: str) -> None:
        import redis
        from redis.connection import AbstractConnection
        self.client = redis.Redis.from_url(url)
        self.trips = 0
        send = AbstractConnection.send_packed_command

        def counted(connection, command, check_health=True):
            self.trips += 1
            return send(connection, command, check_health)
        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]

    def snapshot(self) -> tuple[Counter[str], int, float]:
        trips = self.trips
        stats = self.client.info("commandstats")
        cpu = self.client.info("cpu")
        return (Counter({name[len("cmdstat_"):]: int(v["calls"]) for name, v in stats.items()
                         if name != "cmdstat_info"}), trips + 2,         # + this snapshot's two INFO
                float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]))

    @staticmethod
    def per(before: tuple[Counter[str], int, float], after: tuple[Counter[str], int, float], n: int) -> str:
        commands = after[0] - before[0]
        top = ", ".join(f"{name} {calls / n:.1f}" for name, calls in commands.most_common())
        return (f"{sum(commands.values()) / n:.1f} Redis commands ({top}) in {(after[1] - before[1] - 2) / n:.1f} "
                f"round trips; redis-server {1000 * (after[2] - before[2]) / n:.3f} ms CPU")


def always(picture: bytes):
    """A captcha renderer that returns `picture` whatever the code."""
    return lambda code: picture


def start_cost(users: int, same_picture: bool = False) -> None:
    """CPU ms per new user's /start through the router, pool filled vs pictures drawn on demand;
    `same_picture`: only the pool, filled with copies of one picture (for instruction counts)."""
    from botrunner import redis_clients
    from botrunner.bot.context import Services
    from botrunner.bot.states import states_from_settings
    from botrunner.bot.testing import BotTester
    from botrunner.config.settings import load_settings
    from botrunner.redis_keys import Keys
    from botrunner.supervisor.embedded_redis import EmbeddedRedis
    from handlers.app import build_runtime, router
    from handlers.captcha import jpeg_renderer
    from storage.factory import open_worker_storage, redis_client
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        traffic = RedisTraffic(server.url)
        phases = (("picture from a filled pool", users), ("picture drawn on demand", 0))
        for label, pool in phases[:1] if same_picture else phases:
            env = {"BOT_TOKEN": "1:bench", "STATE_DIR": f"{tmp}/{pool}", "REDIS_URL": server.url,
                   "CAPTCHA_POOL_SIZE": str(pool)}
            settings = load_settings(environ=env, env_file=None)
            storage = open_worker_storage(settings)
            rt = build_runtime(settings, storage, redis_client(settings, settings.redis_session_db))
            if same_picture:            # random codes draw different pictures: their cost varies from run to run
                rt.captcha.pool.render = always(rt.captcha.pool.render("ABCDE"))
            while rt.captcha.pool.fill_one():
                pass
            # the worker's conversation store: its own client of the session database
            states = states_from_settings(settings, redis_clients.sync_client(settings, settings.redis_session_db),
                                          Keys.for_token(settings.bot_token).prefix)
            bot = BotTester(router, Services(bot=rt, store=rt.store), states, bot_username="")
            first = 10 ** 9 + pool
            bot.command(first - 1, "start")                  # warm: connections, catalogs, fonts
            redis0 = traffic.snapshot()
            trips0, started = storage.store.round_trips.total, time.process_time()
            for user in range(first, first + users):
                bot.command(user, "start")
            took = time.process_time() - started
            trips = storage.store.round_trips.total - trips0
            redis1 = traffic.snapshot()
            print(f"/start, {label}: {1000 * took / users:.2f} ms CPU per new user "
                  f"({trips / users:.1f} SQLite statements each; {traffic.per(redis0, redis1, users)})")
            states.close()
            rt.api.close()
            rt.redis.close()
            storage.close()
    if same_picture:
        return
    render = jpeg_renderer()
    started = time.process_time()
    for _ in range(200):
        render("ABCDE")
    print(f"one captcha picture (240x90 JPEG): {1000 * (time.process_time() - started) / 200:.2f} ms CPU")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--ledger", type=int, default=5, help="ledger rows per user")
    parser.add_argument("--start", type=int, default=0, metavar="N",
                        help="instead: CPU per new user's /start in the bot's code, over N new users")
    parser.add_argument("--same-picture", action="store_true",
                        help="with --start: only the pool, filled with copies of one picture, so that under "
                             "valgrind two runs differ only by their /start loops")
    args = parser.parse_args()
    if args.start:
        start_cost(args.start, args.same_picture)
        return
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
