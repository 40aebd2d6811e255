"""The user cache: L1 per worker (lru-dict) + L2 Redis, invalidated cluster-wide through pub/sub.

Reads go L1 -> L2 -> database (filling both). Every user write in any worker deletes the L2 key and
publishes the ids on `cache:invalidate`; every worker's listener drops them from its L1, so no worker
serves a stale user. Only users found are cached, never "no such user": that is why registering a
user publishes nothing for the new id (storage.base: `UserRepository.register`). A write returns
only after its ids are deleted and published; writes of other threads that arrive while a publish
is in flight share the next one (one pipeline, one message: a burst of writes costs every worker's
listener one wake-up per publish, not one per user).
When Redis is unreachable the cache says so once and runs on L1 + database (other workers'
invalidations cannot arrive then, so L1 entries live at most USER_CACHE_TTL_MS); when Redis comes
back L1 is cleared, because invalidations may have been missed meanwhile.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
from loguru import logger
from lru import LRU

from botrunner.metrics import record
from storage.base import Store
from storage.records import User, user_from_json, user_to_json

if TYPE_CHECKING:
    from redis.client import PubSub

CHANNEL = "cache:invalidate"
KEY = "user:{}"
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


class UserCache:
    """Cached `store.users.get`; `start()` runs the invalidation listener and the statistics log."""

    def __init__(self, store: Store, client: redis.Redis, size: int = 50000, ttl_ms: int = 300000,
                 stats_interval_s: float = 60, retry_s: float = 5.0, prefix: str = "") -> None:
        self.store = store
        self.redis = client
        # per bot (botrunner:<bot id>:), so bots sharing one Redis never see each other's users
        self.key = (prefix + KEY).format
        self.channel = prefix + CHANNEL
        self.ttl_s = ttl_ms / 1000
        self.l1: LRU[int, tuple[float, User]] = LRU(max(size, 1))   # user id -> (expires at, user)
        self.l1_enabled = size > 0 and ttl_ms > 0
        self.stats_interval_s = stats_interval_s
        self.retry_s = retry_s
        self.l1_hits = self.l2_hits = self.misses = 0
        self.redis_available = True
        self._retry_at = 0.0
        self._loading: dict[int, object] = {}
        self._queued: set[int] = set()          # ids written, waiting for the next publish
        self._queued_seq = self._published_seq = 0
        self._queue_lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_stats = time.monotonic() + stats_interval_s
        store.on_users_changed(self.invalidate)

    # ---- reads ----
    def get(self, user_id: int) -> User | None:
        entry = self.l1.get(user_id) if self.l1_enabled else None
        if entry is not None and entry[0] > time.monotonic():
            self.l1_hits += 1
            record.cache_lookup("l1")
            return entry[1]
        raw = self._redis(lambda: self.redis.get(self.key(user_id)))
        if raw is not None:
            self.l2_hits += 1
            record.cache_lookup("l2")
            user = user_from_json(raw)
            self._fill_l1(user)
            return user
        self.misses += 1
        record.cache_lookup("miss")
        return self._load(user_id)

    def _load(self, user_id: int) -> User | None:
        # an invalidation that arrives while we read the database removes our token: then we must not
        # cache what we read, it may be older than the write that invalidated it
        token = self._loading[user_id] = object()
        user = self.store.users.get(user_id)
        if user is not None and self._loading.get(user_id) is token:
            self._redis(lambda: self.redis.set(self.key(user_id), user_to_json(user), px=int(self.ttl_s * 1000)))
            if self._loading.get(user_id) is token:
                self._fill_l1(user)
        if self._loading.get(user_id) is token:
            del self._loading[user_id]
        return user

    def _fill_l1(self, user: User) -> None:
        if self.l1_enabled:
            self.l1[user.id] = (time.monotonic() + self.ttl_s, user)

    # ---- invalidation ----
    @property
    def pending_invalidations(self) -> int:
        """Ids written whose publish waits for the one in flight."""
        return len(self._queued)

    def invalidate(self, user_ids: list[int]) -> None:
        """Drop users here, in L2, and (through pub/sub) in every other worker's L1; returns once a
        publish that carries them is done (group commit: see the module docstring)."""
        self._drop_local(user_ids)
        with self._queue_lock:
            self._queued.update(user_ids)
            self._queued_seq += 1
            seq = self._queued_seq
        with self._publish_lock:                # one publish at a time, carrying everything queued before it
            if self._published_seq >= seq:
                return                          # the publish that just ended carried ours
            with self._queue_lock:
                ids, upto, self._queued = sorted(self._queued), self._queued_seq, set()
            try:
                self._redis(lambda: self._publish(ids))
            except BaseException:
                with self._queue_lock:          # not published: the next writer in line tries them again
                    self._queued.update(ids)
                raise
            self._published_seq = upto

    def _publish(self, user_ids: list[int]) -> None:
        clustered = isinstance(self.redis, redis.RedisCluster)     # a cluster pipeline cannot PUBLISH
        with self.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:                                # one key per slot on a cluster
                pipe.delete(self.key(user_id))
            if not clustered:
                pipe.publish(self.channel, ",".join(map(str, user_ids)))
            pipe.execute()
        if clustered:
            self.redis.publish(self.channel, ",".join(map(str, user_ids)))

    def _drop_local(self, user_ids: list[int]) -> None:
        for user_id in user_ids:
            self._loading.pop(user_id, None)
            self.l1.pop(user_id, None)

    def clear(self) -> None:
        """Empty this worker's L1 only."""
        self.l1.clear()
        self._loading.clear()

    # ---- Redis availability ----
    def _redis(self, call: Callable[[], Any]) -> Any:
        if not self.redis_available and time.monotonic() < self._retry_at:
            return None
        try:
            result = call()
        except REDIS_ERRORS as exc:
            self._mark_down(exc)
            return None
        self._mark_up()
        return result

    def _mark_down(self, exc: Exception) -> None:
        self._retry_at = time.monotonic() + self.retry_s
        record.redis_error("user_cache", exc)
        if self.redis_available:
            self.redis_available = False
            logger.warning("User cache: Redis unavailable ({}); running on L1 + database until it is back", exc)

    def _mark_up(self) -> None:
        if not self.redis_available:
            self.redis_available = True
            self.clear()   # invalidations published while we could not listen are lost
            logger.info("User cache: Redis available again; L1 cleared")

    # ---- listener thread ----
    def start(self, wait_s: float = 2.0) -> "UserCache":
        """Start listening for invalidations; waits up to `wait_s` for the subscription."""
        self._thread = threading.Thread(target=self._listen, name="user-cache-listener", daemon=True)
        self._thread.start()
        self._subscribed.wait(wait_s)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._mark_up()
                self._subscribed.set()
                try:
                    self._pump(pubsub)
                finally:
                    pubsub.close()
            except REDIS_ERRORS as exc:
                self._subscribed.clear()
                self._mark_down(exc)
                self._stop.wait(self.retry_s)
            self.maybe_log_stats()

    def _pump(self, pubsub: PubSub) -> None:
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=0.5)
            if message and message.get("type") == "message":
                self._drop_local([int(part) for part in message["data"].split(b",") if part])
            self.maybe_log_stats()

    # ---- statistics ----
    def stats(self) -> dict[str, Any]:
        lookups = self.l1_hits + self.l2_hits + self.misses
        return {"l1Size": len(self.l1), "l1Hits": self.l1_hits, "l2Hits": self.l2_hits, "misses": self.misses,
                "hitRate": round((self.l1_hits + self.l2_hits) / lookups, 4) if lookups else 0.0,
                "redisAvailable": self.redis_available}

    def maybe_log_stats(self) -> None:
        """Log the statistics line when CACHE_STATS_INTERVAL_S has passed (0 turns it off)."""
        record.cache_state(len(self.l1), self.redis_available)
        if self.stats_interval_s and time.monotonic() >= self._next_stats:
            self._next_stats = time.monotonic() + self.stats_interval_s
            stats = self.stats()
            logger.bind(**stats).info("User cache statistics: " + " ".join(f"{k}={v}" for k, v in stats.items()))
