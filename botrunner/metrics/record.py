"""The one-line hooks the pipeline calls to record metrics: local and cheap, never a Redis round trip.

Each function turns what its call site knows into bounded label values and updates a metric of
`botrunner.metrics.definitions`, imported on first use (see that module for why). An update costs
a few in-process counter writes; cluster-wide state (lanes, poll age, dead-letter stream) is read
from Redis at scrape time instead (botrunner.metrics.cluster).
"""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import redis

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)   # redis.asyncio raises the same classes
_defs: ModuleType | None = None
_children: dict[tuple[str, ...], Any] = {}     # bounded: label values come from closed vocabularies


def metrics() -> ModuleType:
    """The metric definitions, imported on first use."""
    global _defs
    if _defs is None:
        from botrunner.metrics import definitions
        _defs = definitions
    return _defs


def child(name: str, *labels: str) -> Any:
    """`definitions.<name>.labels(*labels)`, looked up once per process and label set."""
    key = (name, *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = getattr(metrics(), name).labels(*labels)
    return found


# --- intake ---
def update_type(update: Any) -> str:
    """The type of an update (message, callback_query, ...): a bounded label."""
    if isinstance(update, dict):
        for key in update:
            if key != "update_id":
                return key if key in metrics().UPDATE_TYPES else "other"
    return "other"


def intake(source: str, updates: Iterable[Any], duplicates: int, rejected: int) -> None:
    """A batch reached intake (poll answer or webhook): count it by type, and what intake dropped."""
    for update in updates:
        if isinstance(update, dict) and isinstance(update.get("update_id"), int):
            child("updates_received", source, update_type(update)).inc()
    if duplicates:
        child("updates_duplicate", source).inc(duplicates)
    if rejected:
        child("updates_rejected", source).inc(rejected)


def webhook_refused(reason: str) -> None:
    """A webhook POST refused: a malformed body is a rejected update; bad secrets are not updates at all."""
    if reason == "malformed":
        child("updates_rejected", "webhook").inc()


def polled(source: str, updates: Iterable[Any], duplicates: int, rejected: int) -> None:
    """A getUpdates answer was stored by intake."""
    child("polls", "ok").inc()
    intake(source, updates, duplicates, rejected)


def poll_failed(code: int | None = None) -> None:
    """A getUpdates that failed: by HTTP code (None: network error or timeout)."""
    result = {409: "conflict", 429: "rate_limited"}.get(code or 0, "error")
    child("polls", result).inc()


def poll_lease_lost() -> None:
    child("polls", "lease_lost").inc()


def poll_lease(held: bool) -> None:
    metrics().poll_lease_held.set(1 if held else 0)


# --- processing ---
def handler_timer(route: str) -> AbstractContextManager:
    """Times a handler run (also one that raises) under its route."""
    return child("handler_duration", route).time()


def entry_age_s(entry_id: str | bytes) -> float:
    """Seconds since a lane entry was written (its id is the Redis time in ms)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    try:
        return max(0.0, time.time() - int(text.split("-", 1)[0]) / 1000)
    except ValueError:
        return 0.0


def update_done(entry_id: str | bytes, route: str, acked: bool = True) -> None:
    """An update completed (replies sent, acknowledged): count it and its end-to-end latency. One that
    another worker had acknowledged first counts as a duplicate, so ok counts each update once."""
    if not acked:
        child("updates_handled", "duplicate").inc()
        return
    child("updates_handled", "ok").inc()
    child("update_latency", route or "none").observe(entry_age_s(entry_id))


def update_retried() -> None:
    child("updates_handled", "retried").inc()


def update_duplicate() -> None:
    child("updates_handled", "duplicate").inc()


def dead_lettered() -> None:
    child("updates_handled", "dead_lettered").inc()
    metrics().dead_letters.inc()


# --- sender ---
def send(method: str, result: str) -> None:
    """One outcome of an outgoing call: ok, 429, 403, error, retry."""
    child("sends", method if method in metrics().METHODS else "other", result).inc()


def send_limited(method: str, scope: str) -> None:
    """A 429: the call will be tried again; `scope` is what the freeze covers."""
    send(method, "429")
    flood_freeze(scope)


def limiter_waited(seconds: float) -> None:
    metrics().limiter_wait.observe(max(0.0, seconds))


def flood_freeze(scope: str) -> None:
    child("flood_freezes", scope if scope in ("chat", "group", "global") else "global").inc()


# --- broadcasts ---
def broadcast_recipients(outcome: str, count: int = 1) -> None:
    """Recipients of a broadcast reached an outcome (sent, blocked, failed, skipped) or were retried."""
    if count:
        child("broadcast_recipients", outcome if outcome in metrics().BROADCAST_OUTCOMES else "failed").inc(count)


def broadcast_owned(delta: int) -> None:
    """This worker started (+1) or stopped (-1) sending a broadcast."""
    metrics().process_gauge("broadcasts_running").inc(delta)


def broadcast_rate(per_second: float) -> None:
    """The recipients per second this worker's broadcast achieves now."""
    metrics().process_gauge("broadcast_rate").set(max(0.0, per_second))


# --- user cache and database ---
def cache_lookup(result: str) -> None:
    """l1, l2 or miss."""
    child("cache_lookups", result).inc()


def cache_state(l1_entries: int, redis_available: bool) -> None:
    m = metrics()
    m.process_gauge("cache_l1_entries").set(l1_entries)
    m.process_gauge("cache_redis_available").set(1 if redis_available else 0)


def db_timer(backend: str, operation: str) -> AbstractContextManager:
    """Times one database round trip; counts it as an error when the block raises."""
    return _DbCall(backend, operation)


class _DbCall:
    __slots__ = ("backend", "operation", "started")

    def __init__(self, backend: str, operation: str) -> None:
        self.backend, self.operation = backend, operation
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        child("db_call_duration", self.backend, self.operation).observe(time.perf_counter() - self.started)
        if kind is not None:
            child("db_errors", self.backend, self.operation).inc()


def db_pool(in_use_delta: int = 0, max_size: int | None = None) -> None:
    """MongoDB pool monitoring: connections checked out (+1) / in (-1), and the pool's maximum."""
    m = metrics()
    if in_use_delta:
        m.process_gauge("db_pool_in_use").inc(in_use_delta)
    if max_size is not None:
        m.process_gauge("db_pool_max").set(max_size)


# --- Redis and processes ---
def redis_error(component: str, exc: BaseException) -> None:
    """Count `exc` when it is a Redis connection problem (callers catch broader errors)."""
    if isinstance(exc, REDIS_ERRORS):
        child("redis_errors", component).inc()


def worker_alive(rss_bytes: float) -> None:
    metrics().process_gauge("worker_rss").set(rss_bytes)


def worker_restart(cause: str) -> None:
    """The supervisor decided to replace a worker (memory, rolled)."""
    child("worker_restarts", cause).inc()


def worker_exited(status: int, aborted: bool, retiring: bool) -> None:
    """A reaped worker: count an unplanned exit as a restart, by cause (planned ones were counted at decision)."""
    if os.WIFSIGNALED(status):
        hung = aborted and os.WTERMSIG(status) in (signal.SIGABRT, signal.SIGKILL)
        worker_restart("heartbeat" if hung else "killed")
    elif os.WEXITSTATUS(status) != 0:
        worker_restart("crashed")
    elif not retiring:
        worker_restart("exited")


def workers_running(count: int) -> None:
    metrics().workers_running.set(count)
