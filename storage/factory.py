"""Build storage from Settings, in the process that uses it (a worker after fork, or a CLI command).

    storage = open_worker_storage(settings).start()   # in the worker, after fork
    # or: install(services, settings) from a router.on_worker_start hook
    user = storage.cache.get(user_id)
    storage.store.points.credit(user_id, 10, "award")
    seq = storage.batcher.touch(user_id)               # ack the update after storage.batcher.flush()
    storage.close()                                    # on worker exit
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from loguru import logger
from pymongo import MongoClient

from botrunner import redis_clients
from botrunner.config.settings import Settings
from botrunner.redis_keys import Keys
from storage.base import Store
from storage.mongo.backend import MongoStore, connect
from storage.sqlite.backend import SQLiteStore
from storage.user_cache import UserCache
from storage.write_batcher import WriteBatcher


class ServiceRegistry(Protocol):
    """What `install` needs of the runner's `Services` (botrunner.bot.context.Services is one)."""

    def provide(self, name: str, value: Any) -> None: ...
    def add_flush_hook(self, hook: Callable[[], Any]) -> None: ...


def open_store(settings: Settings, mongo_client: MongoClient[Any] | None = None) -> Store:
    """MongoDB when MONGODB_URL is set (or a client is given, e.g. mongomock), else the SQLite file."""
    if settings.mongodb_url or mongo_client is not None:
        client = mongo_client or connect(settings.mongodb_url, settings.mongo_max_pool_size,
                                         settings.mongo_min_pool_size, settings.mongo_timeout_ms)
        return MongoStore(client, settings.mongodb_database)
    return SQLiteStore(settings.sqlite_file)


def redis_client(settings: Settings, db: int) -> redis.Redis:
    """A Redis client (its own connection pool) for database `db`; short timeouts so a dead Redis
    degrades the cache quickly instead of stalling handlers."""
    # no silent reconnects: the cache's invalidation listener must see a cut subscription and drop L1
    return redis_clients.sync_client(settings, db, timeout=2, retries=0, health_check_interval=30)


@dataclass
class WorkerStorage:
    """A worker's storage: repositories, user cache, write batcher (conversations: botrunner.bot.states)."""

    store: Store
    cache: UserCache
    batcher: WriteBatcher

    def start(self) -> "WorkerStorage":
        """Start the cache's invalidation listener and the batcher's timer thread."""
        self.cache.start()
        self.batcher.start()
        return self

    def close(self) -> None:
        """Write what is batched, stop the threads, close the clients."""
        self.batcher.stop()
        self.cache.stop()
        self.cache.redis.close()
        self.store.close()


def open_worker_storage(settings: Settings, mongo_client: MongoClient[Any] | None = None) -> WorkerStorage:
    """Everything storage a worker needs, built from Settings; schema ensured, crashed writes repaired."""
    store = open_store(settings, mongo_client)
    created = store.init_schema()
    if created:
        logger.info("Storage ({}): created {}", store.backend, ", ".join(created))
    repaired = store.repair()
    if repaired:
        logger.warning("Storage: finished {} money movement(s) a crashed worker had left half done", repaired)
    prefix = Keys.for_token(settings.bot_token).prefix
    cache = UserCache(store, redis_client(settings, settings.redis_cache_db), settings.user_cache_size,
                      settings.user_cache_ttl_ms, settings.cache_stats_interval_s, prefix=prefix)
    batcher = WriteBatcher(store, settings.enable_referral_batching, settings.referral_batch_size,
                           settings.referral_batch_interval_ms)
    return WorkerStorage(store, cache, batcher)


def install(services: ServiceRegistry, settings: Settings, mongo_client: MongoClient[Any] | None = None) -> WorkerStorage:
    """Open and start the worker's storage and register it on the runner's `Services`: handlers get
    `store`, `users` (the cached user lookup), `batcher`; the batcher's flush becomes a
    hook the worker runs before acknowledging each update. Call from a `router.on_worker_start` hook."""
    storage = open_worker_storage(settings, mongo_client).start()
    for name, value in (("storage", storage), ("store", storage.store), ("users", storage.cache),
                        ("batcher", storage.batcher)):
        services.provide(name, value)
    services.add_flush_hook(storage.batcher.flush)
    return storage
