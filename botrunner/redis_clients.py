"""Every Redis client botrunner builds comes from here: one place decides how Redis is reached.

Invariant: a client is built from Settings (connection parameters) in the process that uses it,
never inherited across fork. Four ways, chosen by the settings:
- REDIS_CLUSTER=true: redis-py's RedisCluster, REDIS_URL (or REDIS_HOST) naming any node; it learns
  the slot map from it, follows MOVED/ASK and a failover (a dead master's connections fail, the map
  is read again). A cluster has only database 0: every REDIS_*_DB is db 0 there, and the key
  namespaces keep them apart (botrunner:<bot>:{...} pipeline, :user: cache, :conv: sessions,
  :bot: handlers), as they already do when the DB numbers are equal on one Redis.
- REDIS_SENTINELS: redis-py's Sentinel. Each new connection asks the Sentinels for the current
  master of REDIS_SENTINEL_MASTER, so after a failover the next connection reaches the new one;
  a connection still open to a demoted master answers READONLY, which redis-py turns into a
  ConnectionError and a reconnect. Connections to a changed master are dropped from the pool.
- REDIS_URL / REDIS_HOST: that server.
- neither: the supervisor's embedded redis-server on its unix socket.
TLS (settings.redis_tls: a rediss:// REDIS_URL, or REDIS_SENTINEL_TLS) is the same for every way:
`tls_options` gives redis-py the REDIS_TLS_* files and checks for every connection, the Sentinels'
own included; the files were checked at start-up (botrunner/config/redis_tls.py).
Every client retries a command that met a ConnectionError or ReadOnlyError a few times with the
project's backoff (botrunner.backoff), so a failover or a restart costs a pause, not an error in
every component; a timeout is not retried (a silent Redis must fail calls, never stretch them).
A caller that must notice every cut connection (a pub/sub listener) asks for retries=0.
What a call raises when Redis is unavailable is `UNAVAILABLE`: on a cluster that includes redis-py's
RedisClusterException family (no slot map for the key while a failover is re-read, no node reachable),
which is not a RedisError.
"""
from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any, cast

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.backoff import AbstractBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisClusterException, RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel

from botrunner.backoff import delay_after
from botrunner.redis_scripts import ScriptedCluster

if TYPE_CHECKING:
    from botrunner.config.settings import Settings

RETRIES = 3                   # per command: about 0.1 + 0.2 + 0.4 s at most before the caller sees the error
RETRY_FIRST_S, RETRY_CAP_S = 0.1, 1.0
RETRIED = (RedisConnectionError, ReadOnlyError)
#: What a Redis call raises when Redis cannot answer: a cut or refused connection, a timeout, and on a
#: cluster the client's own errors while its slot map has no node for the key (a failover being re-read).
UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)
CLUSTER_MAX_CONNECTIONS = 1000   # per node and client; a cluster pool fails past it instead of waiting


class JitteredBackoff(AbstractBackoff):
    """redis-py's backoff interface over botrunner's rule: doubling from `first`, capped, 50-100 % jitter."""

    def __init__(self, first: float = RETRY_FIRST_S, cap: float = RETRY_CAP_S) -> None:
        self.first, self.cap = first, cap

    def compute(self, failures: int) -> float:
        return delay_after(failures, self.first, self.cap) * random.uniform(0.5, 1.0)


class BlockingSentinelPool(AsyncSentinelPool, aioredis.BlockingConnectionPool):
    """A Sentinel-managed pool that makes callers wait for a free connection instead of failing."""


def sync_client(settings: Settings, db: int, *, timeout: float | None = None,
                connect_timeout: float | None = None, retries: int = RETRIES, **options: Any) -> redis.Redis:
    """A client of database `db` with its own pool; `options` go to redis-py (decode_responses, ...).
    retries=0 for a client whose caller must see every cut connection (a pub/sub listener: a silent
    resubscribe would hide the messages missed meanwhile)."""
    options.update(_common(timeout, connect_timeout))
    retry = Retry(JitteredBackoff(), retries, RETRIED)
    options.update(tls_options(settings))
    if settings.redis_cluster:
        return cast(redis.Redis, redis.RedisCluster.from_url(settings.redis_url_for(0), retry=retry, **options))
    if settings.redis_sentinels:
        return _sentinel(settings, Sentinel, timeout, connect_timeout).master_for(
            settings.redis_sentinel_master, db=db, retry=retry, **_auth(settings), **options)
    return redis.Redis.from_url(settings.redis_url_for(db), retry=retry, **options)


def async_client(settings: Settings, db: int, *, timeout: float | None = None,
                 connect_timeout: float | None = None, pool_size: int | None = None, retries: int = RETRIES,
                 **options: Any) -> aioredis.Redis:
    """An asyncio client of database `db`. With `pool_size`, a blocking pool of that many connections:
    under a burst callers wait for a connection instead of failing."""
    options.update(_common(timeout, connect_timeout))
    retry = AsyncRetry(JitteredBackoff(), retries, RETRIED)
    options.update(tls_options(settings))
    if settings.redis_cluster:
        # a pool per node, connections made when needed; the lane reader holds one per lane it reads
        return cast(aioredis.Redis, ScriptedCluster.from_url(
            settings.redis_url_for(0), retry=retry, max_connections=CLUSTER_MAX_CONNECTIONS, **options))
    if pool_size:
        options.update(max_connections=pool_size, timeout=None)
    if settings.redis_sentinels:
        pool_class = BlockingSentinelPool if pool_size else AsyncSentinelPool
        return _sentinel(settings, AsyncSentinel, timeout, connect_timeout).master_for(
            settings.redis_sentinel_master, connection_pool_class=pool_class, db=db, retry=retry,
            **_auth(settings), **options)
    url = settings.redis_url_for(db)
    if pool_size:
        return aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(url, retry=retry, **options))
    return aioredis.Redis.from_url(url, retry=retry, **options)


def sentinel_addresses(settings: Settings) -> list[tuple[str, int]]:
    """REDIS_SENTINELS as (host, port) pairs; IPv6 brackets removed."""
    pairs = []
    for address in settings.redis_sentinels:
        host, _, port = address.rpartition(":")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


def sentinel_client(settings: Settings, timeout: float = 2.0) -> Sentinel:
    """A synchronous Sentinel handle (discover_master, discover_slaves) for `check` and `status`."""
    return _sentinel(settings, Sentinel, timeout, timeout)


def _sentinel(settings: Settings, kind: Any, timeout: float | None, connect_timeout: float | None) -> Any:
    """A Sentinel handle of `kind` (sync or asyncio): the Sentinels' own timeouts and credentials."""
    # a Sentinel that is down is skipped at once for the next one: no retries of its own
    no_retry = (AsyncRetry if kind is AsyncSentinel else Retry)(NoBackoff(), 0)
    own: dict[str, Any] = {"socket_timeout": timeout or 2.0, "socket_connect_timeout": connect_timeout or 2.0,
                           "retry": no_retry}
    if settings.redis_sentinel_password:
        own["password"] = settings.redis_sentinel_password
    if settings.redis_sentinel_username:
        own["username"] = settings.redis_sentinel_username
    own.update(tls_options(settings))
    return kind(sentinel_addresses(settings), sentinel_kwargs=own)


def tls_options(settings: Settings) -> dict[str, Any]:
    """redis-py's TLS options for every connection of `settings` (none without TLS). A rediss:// URL
    picks the TLS connection class itself; a Sentinel's connections are told with ssl=True."""
    if not settings.redis_tls:
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "none" if settings.redis_tls_verify == "none" else "required",
                               "ssl_check_hostname": settings.redis_tls_verify == "full"}
    for option, value in (("ssl_ca_certs", settings.redis_tls_ca_file), ("ssl_certfile", settings.redis_tls_cert_file),
                          ("ssl_keyfile", settings.redis_tls_key_file)):
        if value:
            options[option] = value
    if settings.redis_sentinels:
        options["ssl"] = True
    return options


def _auth(settings: Settings) -> dict[str, Any]:
    auth: dict[str, Any] = {}
    if settings.redis_password:
        auth["password"] = settings.redis_password
    if settings.redis_username:
        auth["username"] = settings.redis_username
    return auth


def _common(timeout: float | None, connect_timeout: float | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if timeout is not None:
        options["socket_timeout"] = timeout
    if connect_timeout is not None or timeout is not None:
        options["socket_connect_timeout"] = connect_timeout if connect_timeout is not None else timeout
    return options
