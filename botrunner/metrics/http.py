"""/metrics, /healthz and /readyz: a feature module of the web server, or a listener of its own.

On the web server (WEB_LISTEN, which runs in webhook mode) `mount()` adds /healthz and /readyz, and
METRICS_PATH unless METRICS_LISTEN is set: then `start_site()` serves all three on that address from
every worker (SO_REUSEPORT), so the metrics need not be public; a polling worker serves them only
there. Any worker answers a scrape with every process's metrics (multiprocess files) plus the
cluster snapshot read from Redis then.
/healthz: the worker's event loop answers. /readyz: Redis and the database answer, the
pipeline moves (a recent poll, no lane stuck); 503 with the failing checks otherwise.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from botrunner.config.settings import Settings
from botrunner.metrics import cluster
from botrunner.metrics.multiproc import scrape_registry
from botrunner.redis_clients import UNAVAILABLE
from botrunner.redis_keys import Keys

CHECK_TIMEOUT_S = 2.0
SNAPSHOT_REUSE_S = 1.0     # load balancers poll /readyz often: one Redis read per second per worker at most


@dataclass
class MetricsEnv:
    """What these endpoints need from the worker (the web server's WebEnv has the same fields)."""

    settings: Settings
    redis: aioredis.Redis
    keys: Keys
    services: Any = None            # the worker's Services: its `store` answers the database check
    started: float = field(default_factory=time.time)


def enabled(settings: Settings) -> bool:
    """Mounted on the web server when that runs anyway (webhook mode, the Mini App): health and metrics
    never start it, so a polling worker binds no port unless METRICS_LISTEN asks for one."""
    return settings.metrics_enabled and (settings.use_webhook or settings.miniapp_on)


def mount(app: web.Application, env: Any, metrics: bool | None = None) -> None:
    """Add /healthz, /readyz and (unless METRICS_LISTEN serves it) METRICS_PATH to `app`."""
    endpoints = Endpoints(env)
    app.router.add_get("/healthz", endpoints.healthz)
    app.router.add_get("/readyz", endpoints.readyz)
    serve_metrics = not env.settings.metrics_listen if metrics is None else metrics
    if serve_metrics:
        app.router.add_get(env.settings.metrics_path, endpoints.metrics)


def listen_address(value: str) -> tuple[str | None, int]:
    """'host:port' (or ':port', every interface) of METRICS_LISTEN."""
    host, _, port = value.rpartition(":")
    return host.strip("[]") or None, int(port)


async def start_site(env: MetricsEnv) -> web.AppRunner | None:
    """In a worker, when METRICS_LISTEN is set: serve the three endpoints there; None when not set."""
    if not (env.settings.metrics_enabled and env.settings.metrics_listen):
        return None
    app = web.Application()
    mount(app, env, metrics=True)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = listen_address(env.settings.metrics_listen)
    try:
        await web.TCPSite(runner, host, port, reuse_port=True).start()
    except OSError as exc:       # the worker still runs the pipeline; the operator sees why metrics are missing
        logger.error("Cannot serve metrics on METRICS_LISTEN={} ({}); is the port taken by another program?",
                     env.settings.metrics_listen, exc)
        await runner.cleanup()
        return None
    return runner


class Endpoints:
    """The three handlers over one worker's clients."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.started = getattr(env, "started", time.time())
        self._last: tuple[float, cluster.Snapshot] | None = None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(self, request: web.Request) -> web.Response:
        snap = await self.snapshot()
        body = await asyncio.get_running_loop().run_in_executor(None, render, snap, not self.env.settings.use_webhook)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def readyz(self, request: web.Request) -> web.Response:
        snap = await self.snapshot()
        checks = {"redis": "ok" if snap.redis_up else "unreachable", "database": await self.database()}
        if snap.redis_up and not snap.pipeline_known:
            checks["pipeline"] = "Redis refused the pipeline state reads (see the log)"
        elif snap.redis_up:
            checks["poll"] = self.poll_check(snap)
            limit = self.env.settings.ready_max_lane_lag_s
            checks["lanes"] = "ok" if snap.oldest_age_s <= limit else \
                f"oldest pending update waits {snap.oldest_age_s:.0f}s (READY_MAX_LANE_LAG_S={limit})"
        ready = all(value in ("ok", "not checked") for value in checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def snapshot(self) -> cluster.Snapshot:
        """The cluster state, read at most once per SNAPSHOT_REUSE_S; `redis_up` False when it cannot be read."""
        if self._last is not None and time.monotonic() - self._last[0] < SNAPSHOT_REUSE_S:
            return self._last[1]
        env = self.env
        try:
            snap = await asyncio.wait_for(cluster.read(env.redis, env.keys, env.settings.lanes), CHECK_TIMEOUT_S)
        except UNAVAILABLE as exc:
            logger.warning("Metrics: cannot read the pipeline state from Redis ({!r})", exc)
            snap = cluster.Snapshot()
        self._last = (time.monotonic(), snap)
        return snap

    async def database(self) -> str:
        store = getattr(getattr(self.env, "services", None), "provided", {}).get("store")
        if store is None:
            return "not checked"
        try:
            await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, store.ping), CHECK_TIMEOUT_S)
        except Exception as exc:
            return f"unreachable: {exc!r}"[:200]
        return "ok"

    def poll_check(self, snap: cluster.Snapshot) -> str:
        s = self.env.settings
        if s.use_webhook:
            return "not checked"         # a quiet bot gets no webhook calls: silence proves nothing
        limit = s.ready_max_poll_age_s
        if time.time() - self.started < limit or (snap.poll_age_s is not None and snap.poll_age_s <= limit):
            return "ok"
        age = "never" if snap.poll_age_s is None else f"{snap.poll_age_s:.0f}s ago"
        return f"last successful poll {age} (READY_MAX_POLL_AGE_S={limit})"


def render(snap: cluster.Snapshot, polling: bool = True) -> bytes:
    """The exposition text: every process's metrics, then the cluster snapshot."""
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(cluster.SnapshotCollector(snap, polling))
    return generate_latest(scrape_registry()) + generate_latest(snapshot)
