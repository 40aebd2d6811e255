"""Refuse a shared Redis that can lose updates, and SQLite split across hosts, before anything starts.

Two configurations pass every connection test and still lose work:
- a Redis with `maxmemory` set and an evicting `maxmemory-policy`: under memory pressure it drops
  lanes, leases, dedup/completion markers or the poll offset (lost or repeated updates);
- several hosts on one pipeline Redis, each with its own SQLite file: lanes move between hosts,
  so one user's data ends up split over several databases.
`guard_pipeline` raises `UnsafePipeline` (exit status 2, which systemd does not restart) for
either; REDIS_ALLOW_EVICTION=true turns the first into a warning. Two hosts started at the same
moment both pass the start check, so the supervisor repeats the host check every
RECHECK_S seconds (`split_database`) and halts with the same exit status when it finds one. The embedded Redis is private to
one host and runs without maxmemory, so it is never refused. Both the supervisor's start and
`botrunner check` call this; the eviction policy is read from INFO, which managed Redis services
allow even where CONFIG is disabled.
"""
from __future__ import annotations

import socket
import time
from typing import Any, cast

import redis
from loguru import logger

from botrunner.config.settings import Settings
from botrunner.errors import UnsafePipeline
from botrunner.redis_keys import Keys
from botrunner.redis_replies import text
from botrunner.tools.operator_errors import redis_where

EXIT_UNSAFE = UnsafePipeline.exit_status
RECHECK_S = 15.0       # how often a running supervisor looks for workers of another host (SQLite only)


def memory_policy(client: redis.Redis) -> tuple[str, int]:
    """(maxmemory-policy, maxmemory in bytes; 0 = no limit) of the server."""
    info: Any = client.info("memory")
    return str(info.get("maxmemory_policy", "noeviction")), int(info.get("maxmemory", 0) or 0)


def eviction_risk(client: redis.Redis) -> str | None:
    """None when Redis never evicts; else what it may evict, in one sentence."""
    policy, maxmemory = memory_policy(client)
    if policy == "noeviction" or maxmemory == 0:
        return None
    victims = ("any key: lanes, the poll offset, leases, dedup markers" if policy.startswith("allkeys")
               else "keys with a TTL: leases, dedup and completion markers (repeated updates)")
    return (f"maxmemory-policy {policy} with maxmemory {maxmemory // (1024 * 1024)} MB lets Redis evict {victims}; "
            "set `maxmemory-policy noeviction` for the pipeline Redis")


def other_hosts(client: redis.Redis, keys: Keys, this_host: str) -> list[str]:
    """Hosts other than this one with live workers of this bot in the registry."""
    hosts = set()
    now_ms = time.time() * 1000
    registry = cast("list[tuple[bytes, float]]", client.zrange(keys.workers, 0, -1, withscores=True))
    for worker_id, beat_ms in registry:
        host = cast("bytes | None", client.hget(keys.worker(text(worker_id)), "host"))
        if host and now_ms - beat_ms < 60_000 and text(host) != this_host:
            hosts.add(text(host))
    return sorted(hosts)


def guard_pipeline(settings: Settings, client: redis.Redis, keys: Keys, this_host: str | None = None) -> list[str]:
    """Raise UnsafePipeline for a configuration that loses or splits updates; return accepted risks."""
    if settings.embedded_redis:
        return []
    accepted = []
    risk = eviction_risk(client)
    if risk and not settings.redis_allow_eviction:
        raise UnsafePipeline(f"{redis_where(settings)}: {risk} (or REDIS_ALLOW_EVICTION=true to start anyway)")
    if risk:
        accepted.append(f"{risk}; started anyway because REDIS_ALLOW_EVICTION=true")
    split = split_database(settings, client, keys, this_host)
    if split:
        raise UnsafePipeline(split)
    return accepted


def split_database(settings: Settings, client: redis.Redis, keys: Keys, this_host: str | None = None) -> str | None:
    """Why this host's SQLite would split the bot's users, or None (MongoDB, or no other host)."""
    if settings.embedded_redis or settings.mongodb_url:
        return None
    hosts = other_hosts(client, keys, this_host or socket.gethostname())
    if not hosts:
        return None
    return (f"workers of this bot run on {', '.join(hosts)} against the same Redis, and this host uses SQLite "
            f"({settings.sqlite_file}): users would be split over several databases; set MONGODB_URL on every "
            "host (required past one VM)")


def guard_at_start(settings: Settings, client: redis.Redis, keys: Keys) -> None:
    """The supervisor's call: refuse (raises) or log each accepted risk loudly."""
    for warning in guard_pipeline(settings, client, keys):
        logger.warning("Unsafe Redis accepted: {}", warning)
