"""Storage's metrics: user cache lookups (and the guide's statistics line), database round trips, MongoDB pool."""
from __future__ import annotations

import redis
from loguru import logger
from prometheus_client import REGISTRY

from botrunner.metrics.mongo_pool import PoolMetrics
from storage.sqlite.backend import SQLiteStore
from storage.user_cache import UserCache


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def lookups() -> dict[str, float]:
    return {r: sample("botrunner_user_cache_lookups_total", result=r) for r in ("l1", "l2", "miss")}


def test_cache_lookups_match_the_statistics_line_and_keep_the_guides_fields(tmp_path, redis_url):
    store = SQLiteStore(str(tmp_path / "c.sqlite3"))
    store.init_schema()
    store.users.register(1, "alice")
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    try:
        before = lookups()
        cache = UserCache(store, redis.Redis.from_url(redis_url), stats_interval_s=1e-9)
        other = UserCache(store, redis.Redis.from_url(redis_url))
        cache.get(1), cache.get(1), other.get(1), cache.get(404)
        cache.maybe_log_stats()
    finally:
        logger.remove(sink)
        store.close()
    after = lookups()
    assert {r: after[r] - before[r] for r in after} == {"l1": 1, "l2": 1, "miss": 2}
    line = [entry for entry in lines if "cache statistics" in entry][-1]     # the guide: grep "cache statistics"
    for name in ("l1Size", "l1Hits", "l2Hits", "misses", "hitRate", "redisAvailable"):
        assert f"{name}=" in line
    assert sample("botrunner_user_cache_l1_entries") == 1
    assert sample("botrunner_user_cache_redis_available") == 1


def test_sqlite_round_trips_are_timed_by_operation_and_still_counted(tmp_path):
    store = SQLiteStore(str(tmp_path / "d.sqlite3"))
    store.init_schema()
    calls = {op: sample("botrunner_db_call_duration_seconds_count", backend="sqlite", operation=op)
             for op in ("query", "execute", "begin")}
    store.round_trips.take()
    store.users.register(7, "bob")
    store.users.get(7)
    trips = store.round_trips.take()
    store.close()
    timed = sum(sample("botrunner_db_call_duration_seconds_count", backend="sqlite", operation=op) - calls[op]
                for op in calls)
    assert trips >= 2 and timed >= 2
    assert sample("botrunner_db_call_duration_seconds_count", backend="sqlite", operation="query") > calls["query"]


def test_mongo_pool_listener_tracks_checkouts():
    listener = PoolMetrics(max_pool_size=200)
    before = sample("botrunner_db_pool_connections_in_use")
    listener.connection_checked_out(None)
    listener.connection_checked_out(None)
    listener.connection_checked_in(None)
    assert sample("botrunner_db_pool_connections_in_use") == before + 1
    assert sample("botrunner_db_pool_max_connections") == 200


def test_the_worker_mongo_client_reports_pool_events():
    from storage.mongo.backend import connect
    client = connect("mongodb://127.0.0.1:1/none", max_pool_size=7, min_pool_size=0, timeout_ms=200)   # no I/O yet
    try:
        assert any(isinstance(listener, PoolMetrics) for listener in client.options.event_listeners)
        assert sample("botrunner_db_pool_max_connections") == 7
    finally:
        client.close()
