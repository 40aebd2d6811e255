"""The L1 + L2 user cache against the real Redis from the fixtures (and a private one we stop)."""
from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
import redis
from loguru import logger

from botrunner.supervisor.embedded_redis import EmbeddedRedis
from storage.sqlite.backend import SQLiteStore
from storage.user_cache import UserCache


def wait_until(condition, timeout=5.0):
    """Readiness poll (not a timing assertion): pub/sub delivery is asynchronous."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(str(tmp_path / "cache.sqlite3"))
    store.init_schema()
    store.users.register(1, "alice")
    yield store
    store.close()


@pytest.fixture
def log_lines():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    yield lines
    logger.remove(sink)


def make_cache(store, url, **kwargs):
    return UserCache(store, redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1), **kwargs)


def test_l1_l2_miss_accounting(store, redis_url):
    cache = make_cache(store, redis_url)
    assert cache.get(1).username == "alice"         # miss: database, fills L2 and L1
    assert cache.get(1).username == "alice"         # L1
    other_worker = make_cache(store, redis_url)
    assert other_worker.get(1).username == "alice"  # L2
    assert cache.get(404) is None
    assert cache.stats() == {"l1Size": 1, "l1Hits": 1, "l2Hits": 0, "misses": 2, "hitRate": 0.3333,
                             "redisAvailable": True}
    assert other_worker.stats()["l2Hits"] == 1


def test_returning_user_costs_no_database_read(store, redis_url):
    cache = make_cache(store, redis_url)
    cache.get(1)
    store.round_trips.take()
    cache.get(1)
    assert store.round_trips.take() == 0


def test_expired_l1_entry_is_not_served(store, redis_url):
    cache = make_cache(store, redis_url, ttl_ms=1)
    cache.get(1)
    time.sleep(0.01)
    cache.get(1)
    assert cache.l1_hits == 0


def test_write_invalidates_l1_and_l2(store, redis_url, redis_client):
    cache = make_cache(store, redis_url)
    cache.get(1)
    assert redis_client.exists("user:1")
    store.users.set_language(1, "de")
    assert not redis_client.exists("user:1") and 1 not in cache.l1
    assert cache.get(1).language_code == "de"


def _other_worker(path, url, conn):
    store = SQLiteStore(path)            # everything built after fork, as a worker does
    cache = make_cache(store, url).start()
    cache.get(1)
    conn.send("cached")
    conn.recv()                          # the parent has written
    dropped = wait_until(lambda: 1 not in cache.l1)
    conn.send((dropped, cache.get(1).points))
    cache.stop()


def test_invalidation_reaches_another_process(store, redis_url):
    parent_conn, child_conn = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=_other_worker, args=(store.path, redis_url, child_conn),
                                                        daemon=True)
    child.start()
    try:
        assert parent_conn.poll(10) and parent_conn.recv() == "cached"
        make_cache(store, redis_url)     # this process's cache: it publishes the invalidation on writes
        store.points.credit(1, 42, "award")
        parent_conn.send("written")
        assert parent_conn.poll(10)
        assert parent_conn.recv() == (True, 42)
    finally:
        child.join(10)
        if child.is_alive():
            child.terminate()


def test_listener_applies_invalidations_published_elsewhere(store, redis_url, redis_client):
    cache = make_cache(store, redis_url).start()
    try:
        cache.get(1)
        redis_client.publish("cache:invalidate", "1,7")
        assert wait_until(lambda: 1 not in cache.l1)
    finally:
        cache.stop()


def test_bots_sharing_one_redis_never_see_each_others_users(store, redis_url, redis_client):
    bot_a = make_cache(store, redis_url, prefix="botrunner:111:").start()
    bot_b = make_cache(store, redis_url, prefix="botrunner:222:").start()
    try:
        bot_a.get(1)
        bot_b.get(1)
        assert redis_client.exists("botrunner:111:user:1") and not redis_client.exists("user:1")
        redis_client.publish("botrunner:222:cache:invalidate", "1")      # bot B's invalidation only
        assert wait_until(lambda: 1 not in bot_b.l1)
        assert 1 in bot_a.l1
    finally:
        bot_a.stop()
        bot_b.stop()


def test_redis_down_degrades_to_l1_and_database_announced_once(store, tmp_path, log_lines):
    server = EmbeddedRedis(tmp_path / "r").start()
    try:
        cache = make_cache(store, server.url, retry_s=0.0)
        store.users.register(2, "bob")
        cache.get(1)
        server.stop()
        store.users.set_language(2, "de")               # publishing this invalidation fails: no crash
        assert cache.get(2).language_code == "de"       # database
        assert cache.get(2).language_code == "de"       # L1 still works
        assert cache.get(3) is None
        assert cache.stats()["redisAvailable"] is False
        assert sum("Redis unavailable" in line for line in log_lines) == 1
        server.start()
        assert cache.get(3) is None                     # a miss asks Redis again: it is back
        assert cache.stats()["redisAvailable"] is True
        assert 2 not in cache.l1                        # invalidations may have been missed meanwhile
        assert sum("available again" in line for line in log_lines) == 1
    finally:
        server.stop()


def test_dead_redis_from_the_start(store, tmp_path, log_lines):
    cache = make_cache(store, f"unix://{tmp_path}/nothing.sock").start(wait_s=0.2)
    try:
        assert cache.get(1).username == "alice" and cache.get(1).username == "alice"
        assert cache.stats()["l1Hits"] == 1 and not cache.stats()["redisAvailable"]
        assert sum("Redis unavailable" in line for line in log_lines) == 1
    finally:
        cache.stop()


def test_statistics_line(store, redis_url, log_lines):
    cache = make_cache(store, redis_url, stats_interval_s=1e-9)
    cache.get(1)
    cache.get(1)
    cache.maybe_log_stats()
    line = [entry for entry in log_lines if entry.startswith("User cache statistics")][-1]
    for field in ("l1Size=1", "l1Hits=1", "l2Hits=0", "misses=1", "hitRate=0.5", "redisAvailable=True"):
        assert field in line


def test_size_bounds_l1(store, redis_url):
    for uid in range(2, 12):
        store.users.register(uid)
    cache = make_cache(store, redis_url, size=5)
    for uid in range(1, 12):
        cache.get(uid)
    assert cache.stats()["l1Size"] == 5


def test_a_cut_invalidation_subscription_clears_l1_even_through_the_factorys_client(store, settings, redis_client):
    """Invalidations published while the subscription was down are lost: L1 must be dropped. The
    factory's clients reconnect a cut connection by themselves; the cache's must still notice."""
    from storage.factory import redis_client as cache_client
    cache = UserCache(store, cache_client(settings, settings.redis_cache_db), retry_s=0.1).start()
    try:
        assert cache.get(1).username == "alice" and len(cache.l1) == 1
        assert redis_client.client_kill_filter(_type="pubsub") >= 1
        assert wait_until(lambda: len(cache.l1) == 0, 10), "L1 kept entries whose invalidations may have been lost"
        assert wait_until(lambda: cache.redis_available, 10)
    finally:
        cache.stop()


def test_a_user_looked_up_before_registering_is_found_after_it(store, redis_url, redis_client):
    """Two workers that saw "no such user" see the user once it is registered, though registering
    publishes nothing for the new id: no cache may ever keep an absence (L1 or L2)."""
    cache, other_worker = make_cache(store, redis_url).start(), make_cache(store, redis_url).start()
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe("cache:invalidate")
    try:
        assert cache.get(7) is None and other_worker.get(7) is None
        assert cache.get(7) is None and other_worker.get(7) is None        # asked twice: still nothing kept
        store.users.register(7, "bob")
        store.users.set_language(1, "de")                                  # a write that does publish, as a marker
        assert published(listener, 1) == [b"1"]                            # the first message is the marker's
        assert cache.get(7).username == "bob" and other_worker.get(7).username == "bob"
    finally:
        listener.close()
        cache.stop()
        other_worker.stop()


def test_registering_a_username_drops_its_stale_holder_from_every_cache(store, redis_url):
    cache, other_worker = make_cache(store, redis_url).start(), make_cache(store, redis_url).start()
    try:
        assert cache.get(1).username == "alice" and other_worker.get(1).username == "alice"
        store.users.register(8, "Alice")                # alice renamed on Telegram; someone new took the name
        assert cache.get(1).username == ""              # the writer's own L1 and L2 at once
        assert wait_until(lambda: other_worker.get(1).username == "")   # the other's L1 through pub/sub
        assert cache.get(8).username == "Alice"
    finally:
        cache.stop()
        other_worker.stop()


class HeldFirstPipeline(redis.Redis):
    """A client whose first pipeline (the first invalidation's publish) waits until `release` is set."""

    fail_second = False                  # the pipeline after the held one raises instead of running

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.held, self.release = threading.Event(), threading.Event()
        self.pipelines = 0

    def pipeline(self, transaction=True, shard_hint=None):
        pipe = super().pipeline(transaction, shard_hint)
        self.pipelines += 1
        if self.pipelines == 1:
            self.held.set()
            pipe.execute = lambda raise_on_error=True, execute=pipe.execute: self.release.wait(10) and execute()
        elif self.pipelines == 2 and self.fail_second:
            pipe.execute = refuse
        return pipe


def refuse(raise_on_error=True):
    raise redis.ResponseError("refused")


def write_behind_a_held_publish(store, client, cache):
    """Users 1, 2, 3 written from three threads, 2 and 3 while 1's publish is held; their errors."""
    errors = {}

    def write(uid):
        try:
            store.users.set_language(uid, "de")
        except Exception as exc:
            errors[uid] = exc
    writers = [threading.Thread(target=write, args=(uid,)) for uid in (1, 2, 3)]
    writers[0].start()
    assert wait_until(client.held.is_set)                              # user 1's publish is in flight
    writers[1].start()
    writers[2].start()
    assert wait_until(lambda: cache.pending_invalidations == 2)
    assert all(writer.is_alive() for writer in writers)                # nobody returned before its publish
    client.release.set()
    for writer in writers:
        writer.join(10)
    return errors


def published(listener, expected):
    messages = []
    wait_until(lambda: messages.append(listener.get_message(timeout=0.1)) or len(list(filter(None, messages))) >= expected)
    return [m["data"] for m in messages if m]


def test_writes_during_a_publish_share_the_next_one_and_return_after_it(store, redis_url, redis_client):
    """Group commit: writes that arrive while a publish is in flight go out together in the next
    (one pipeline, one message for every listener), and none returns before its ids are published."""
    store.users.register(2, "bob")
    store.users.register(3, "carol")
    client = HeldFirstPipeline.from_url(redis_url, socket_timeout=5)
    cache = UserCache(store, client)
    assert [cache.get(uid).id for uid in (1, 2, 3)] == [1, 2, 3]       # all three in L2
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe("cache:invalidate")
    assert write_behind_a_held_publish(store, client, cache) == {}
    assert published(listener, 2) == [b"1", b"2,3"]
    assert not any(redis_client.exists(f"user:{uid}") for uid in (1, 2, 3))
    assert all(cache.get(uid).language_code == "de" for uid in (1, 2, 3))
    listener.close()


def test_a_writer_waiting_behind_a_failed_publish_publishes_its_ids_itself(store, redis_url, redis_client):
    """The writer whose publish failed gets the error; a writer whose ids were in that publish does not
    return as if they had gone out: it publishes them itself."""
    store.users.register(2, "bob")
    store.users.register(3, "carol")
    client = HeldFirstPipeline.from_url(redis_url, socket_timeout=5)
    client.fail_second = True                                          # the one carrying users 2 and 3
    cache = UserCache(store, client)
    assert [cache.get(uid).id for uid in (1, 2, 3)] == [1, 2, 3]
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe("cache:invalidate")
    errors = write_behind_a_held_publish(store, client, cache)
    assert len(errors) == 1 and isinstance(next(iter(errors.values())), redis.ResponseError)
    assert published(listener, 2) == [b"1", b"2,3"]
    assert not any(redis_client.exists(f"user:{uid}") for uid in (1, 2, 3))
    listener.close()
