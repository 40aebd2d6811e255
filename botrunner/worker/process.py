"""A worker process: poller + lane reader + chat queues + handler thread pool on a uvloop loop.

`Worker` is built in the supervisor before fork and does nothing to the current process; the
child calls `run()`, which does everything per-process in `init_process()` (signals, logging,
RNG, the handlers module) and then builds its own clients from connection *parameters*.
SIGTERM: warm stop (finish the poll in flight, drain within DRAIN_TIMEOUT_S, release leases);
SIGQUIT or a second SIGTERM: cold stop. The worker also stops when its parent changes.
In webhook mode (USE_WEBHOOK) the worker runs no poller: its HTTP server (botrunner.web) takes
the POSTs, and on a stop it closes first, so every update it answered 200 is in a lane before
the drain.
"""
from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import random
import secrets
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis
import uvloop
from loguru import logger

from botrunner import redis_clients
from botrunner.bot.context import Services
from botrunner.bot.router import Router, load_router
from botrunner.bot.states import states_from_settings
from botrunner.config.settings import Settings
from botrunner.errors import BootError, FatalApiError
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.poller import Poller
from botrunner.intake.store import Intake
from botrunner.lanes.chat_order import ChatQueues
from botrunner.lanes.leases import LaneLeases
from botrunner.lanes.membership import Cohort, Registry
from botrunner.lanes.reader import LaneReader
from botrunner.logs import setup_from_settings
from botrunner.memory import rss_mb
from botrunner.metrics import record
from botrunner.metrics.http import MetricsEnv, start_site
from botrunner.processing.completion import Completion
from botrunner.processing.handler_pool import HandlerPool
from botrunner.processing.processor import Processor
from botrunner.redis_batch import ScriptBatcher
from botrunner.redis_keys import Keys
from botrunner.sender.metrics import MetricsPublisher
from botrunner.sender.sender import build_sender, learn_username
from botrunner.sender.threaded import ThreadSender
from botrunner.web.env import WebEnv
from botrunner.web.server import FEATURES, WebServer, start_web
from botrunner.worker.heartbeat import HeartbeatFile

WORKER_BOOT_ERROR = 3     # the supervisor halts instead of respawning: the config or the code is broken
WORKER_FATAL = 4          # the Bot API rejected the token: nothing any worker can fix
WORKER_EXHAUSTED = 5      # hung handlers took every thread: the supervisor replaces the worker
GC_YOUNG_THRESHOLD = 10_000   # container objects allocated (net) before a young collection; CPython's is 700


def settle_garbage_collector() -> None:
    """After boot: collect once, freeze what boot built (modules, classes, the bot's handlers: ~90,000
    objects that live as long as the process), and let the young generation grow to GC_YOUNG_THRESHOLD
    objects before it is collected. Frozen objects are never traversed again, so a full collection under
    load costs about 4 ms instead of 40 ms; an update in flight holds hundreds of young objects (its
    parsed Update, futures, coroutines), and with CPython's 700 a young collection ran every few updates,
    traversing and promoting all of them only for them to die a moment later. Reply burst, per worker
    over 4000 updates: 0.17-0.23 s -> 0.01 s of CPU in the collector (docs/benchmarks.md, seventh round).
    Cyclic garbage is still collected, after at most GC_YOUNG_THRESHOLD more objects."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class Worker:
    """One worker process, described before fork."""

    def __init__(self, settings: Settings, heartbeat: HeartbeatFile, age: int, cohort: Cohort | None = None) -> None:
        self.settings = settings
        self.heartbeat = heartbeat
        self.age = age
        self.cohort = cohort       # the workers started with this one: they join the lane assignment together
        self.ppid = os.getpid()
        self.pid = 0
        self.spawned_at = time.monotonic()        # compared with heartbeat stamps, which are monotonic
        self.handlers: HandlerPool | None = None
        self.exhausted = False     # worker side: hung handlers took every thread (exit WORKER_EXHAUSTED)
        self.router: Router | None = None
        self.stop_requested = 0
        self.first_stop_at = 0.0
        self.retiring = False      # supervisor side: asked to stop (roll, recycle, fewer workers)
        self.aborted = False       # supervisor side: SIGABRT sent for a missed heartbeat
        self.web: WebServer | None = None

    def run(self) -> None:
        """In the child: boot, serve, and leave with the right exit code (never returns)."""
        code = 0
        try:
            self.init_process()
            code = uvloop.run(self.serve())
        except BootError as exc:
            logger.critical("Worker failed to boot: {}", exc)
            code = WORKER_BOOT_ERROR
        except BaseException:
            logger.exception("Worker crashed")
            code = 1
        finally:
            os._exit(code)

    def init_process(self) -> None:
        """Everything per-process, after fork."""
        self.pid = os.getpid()
        for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole group: the supervisor decides
        setup_from_settings(self.settings, proc=f"worker-{self.pid}")
        faulthandler.enable(all_threads=True)          # SIGABRT (a missed heartbeat) dumps every thread's stack
        random.seed()
        try:
            self.router = load_router(self.settings.bot_handlers)
        except Exception as exc:
            raise BootError(f"cannot load BOT_HANDLERS={self.settings.bot_handlers!r}: {exc!r}") from exc
        settle_garbage_collector()

    async def serve(self) -> int:
        """Build the pipeline, run it until asked to stop, drain; returns the exit code."""
        s = self.settings
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        loop.add_signal_handler(signal.SIGQUIT, lambda: os._exit(0))
        worker_id = f"{socket.gethostname()}:{self.pid}:{secrets.token_hex(2)}"
        keys = Keys.for_token(s.bot_token)
        client = pipeline_redis(s)
        states = states_from_settings(s, redis_clients.sync_client(s, s.redis_session_db, timeout=s.redis_timeout_s),
                                      keys.prefix)
        handlers = self.handlers = HandlerPool(s.handler_threads, s.handler_timeout_s)
        services = self._start_services(handlers.executor)
        # the bot mirrors "blocked the bot" into its users table from a handler thread (storage is synchronous)
        batcher = ScriptBatcher(client)         # the hot path's script calls of one loop turn: one round trip
        sender = build_sender(s, client, keys, lambda user_id, blocked: loop.run_in_executor(
            handlers.executor, services.blocked_bot, user_id, blocked), batcher)
        await sender.open()
        services.provide("sender", ThreadSender(sender, loop))     # for the bot's background jobs (broadcasts)
        self.metrics = MetricsPublisher(client, keys.worker(worker_id), sender.metrics)
        lease = PollLease(client, keys, worker_id, s.poll_lease_ttl_ms, s.lease_wait_replicas)
        intake = Intake(client, keys, s.intake_wait_replicas, s.intake_wait_timeout_ms)
        poller = Poller(lease, intake, s.telegram_api_url, s.bot_token, s.lanes, s.poll_timeout_s)
        leases = LaneLeases(client, keys, worker_id, s.lanes, s.lane_lease_ttl_ms, s.lease_wait_replicas)
        processor = Processor(self._loaded_router(), Completion(client, keys, batcher), sender.send, handlers, services,
                              states, s.max_attempts, leases.is_valid, deliver=sender.deliver, fence_for=leases.fence)
        queues = ChatQueues(processor.process, capacity=max(s.handler_threads * 16, s.chat_runners),
                            concurrency=s.chat_runners)
        reader = LaneReader(client, leases, Registry(client, keys, worker_id, s.lane_lease_ttl_ms), queues,
                            lambda: lease.value is not None,
                            lambda: {"handlers_busy": handlers.busy, "handlers_hung": handlers.abandoned},
                            cohort=self.cohort, settle_s=s.lane_settle_ms / 1000, read_client=lane_read_redis(s))
        processor.on_lapsed = reader.lapsed
        processor.on_lost = reader.lost
        processor.on_given_up = reader.salvage.keep
        processor.on_user_flag = sender.user_flag_changed
        await self._wait_for_redis(reader)
        await self._start_web(WebEnv(s, client, keys, worker_id, services))
        metrics_site = await start_site(MetricsEnv(s, client, keys, services))     # METRICS_LISTEN, when set
        username = asyncio.create_task(learn_username(
            sender.client, lambda name: setattr(processor, "bot_username", name)))
        await asyncio.wait([username], timeout=s.send_timeout_s)     # usually one quick call; else learnt later
        logger.info("Worker {} up: {} handler threads, lanes 0..{}", worker_id, s.handler_threads, s.lanes - 1)
        tasks = {"keeper": asyncio.create_task(reader.keep(on_joined=self.heartbeat.mark_joined)),
                 "reader": asyncio.create_task(reader.read()),
                 "heartbeat": asyncio.create_task(self._beat()),
                 "metrics": asyncio.create_task(self._publish_every_second())}
        if not s.use_webhook:          # webhook mode: Telegram pushes to the HTTP server instead
            tasks["poller"] = asyncio.create_task(_poll_once_settled(poller, reader))
        code = await self._until_stopped(tasks)
        await self._drain(poller, reader, queues, tasks)
        username.cancel()
        await reader.leave()
        if metrics_site is not None:
            await metrics_site.cleanup()
        # on_worker_stop: close storage
        await loop.run_in_executor(handlers.executor, self._loaded_router().worker_stopped, services)
        await sender.close()
        await client.aclose()
        if reader.read_client is not client:
            await reader.read_client.aclose()
        logger.info("Worker stopped after handling {} update(s)", processor.handled)
        return code

    def _start_services(self, pool: ThreadPoolExecutor) -> Services:
        services = Services(settings=self.settings)   # startup hooks (storage, the bot) read Settings here
        for hook in self._loaded_router().all_startup_hooks():
            try:
                hook(services)
            except Exception as exc:
                raise BootError(f"startup hook {hook.__name__} failed: {exc!r}") from exc
        return services

    def _loaded_router(self) -> Router:
        if self.router is None:
            raise BootError("the worker serves before init_process() loaded BOT_HANDLERS")
        return self.router

    async def _start_web(self, env: WebEnv) -> None:
        try:
            self.web = await start_web(env, FEATURES + self._loaded_router().web_features)
        except OSError as exc:
            host, port = env.settings.web_address
            raise BootError(f"cannot listen on {host}:{port} (WEB_LISTEN / WEBHOOK_PORT): {exc}") from exc

    async def _wait_for_redis(self, reader: LaneReader) -> None:
        while True:
            try:
                await reader.boot()
                self.heartbeat.notify()            # first beat: the supervisor counts us as booted
                return
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                logger.warning("Redis is not reachable ({!r}); retrying", exc)
                record.redis_error("worker", exc)
                await asyncio.sleep(1.0)

    async def _until_stopped(self, tasks: dict[str, asyncio.Task]) -> int:
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait([stop, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
        poller = tasks.get("poller")
        if poller is not None and poller.done() and not poller.cancelled() and isinstance(poller.exception(), FatalApiError):
            return WORKER_FATAL
        if self.exhausted:
            return WORKER_EXHAUSTED
        for name, task in tasks.items():
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.opt(exception=task.exception()).error("The {} task failed; stopping the worker", name)
                return 1
        return 0

    async def _drain(self, poller: Poller, reader: LaneReader, queues: ChatQueues,
                     tasks: dict[str, asyncio.Task]) -> None:
        """Warm stop: finish the poll (or webhook POSTs) in flight and the queued updates within DRAIN_TIMEOUT_S."""
        if self.web is not None:
            await self.web.stop()
        poller.stop()
        reader.stop_reading()
        await reader.leave()               # the others now wait for our lanes, each taken as soon as released
        await reader.read_returned()
        tasks["reader"].cancel()
        reader.release_each_when_idle()
        try:
            polled = [tasks["poller"]] if "poller" in tasks else []
            await asyncio.wait_for(asyncio.gather(*polled, queues.wait_idle(), return_exceptions=True),
                                   self.settings.drain_timeout_s)
        except asyncio.TimeoutError:
            left = queues.drop_all()
            logger.warning("Drain deadline passed: {} queued update(s) left pending for the next owner", left)
            for task in polled:
                task.cancel()
        reader.stop()
        for lane in reader.leases.held:
            if queues.per_lane[lane] > 0:      # a handler still runs: let this lease expire instead
                reader.leases.forget(lane)
        await reader.release_all()
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)

    def _on_sigterm(self) -> None:
        # the same stop often arrives twice (systemd signals the whole cgroup, the supervisor relays it):
        # rq's rule, a duplicate within 1 s is not a second request
        if self.stop_requested and time.monotonic() - self.first_stop_at < 1.0:
            return
        self.stop_requested += 1
        self.first_stop_at = self.first_stop_at or time.monotonic()
        if self.stop_requested > 1:
            logger.warning("Second SIGTERM: cold stop")
            os._exit(0)
        logger.info("Received SIGTERM, draining (up to {}s)", self.settings.drain_timeout_s)
        self.stopping.set()

    async def _beat(self) -> None:
        """The local heartbeat: never waits on the network, so a silent Redis does not get us SIGABRTed."""
        while True:
            self.heartbeat.notify()
            record.worker_alive(rss_mb(self.pid) * 1024 * 1024)
            if os.getppid() != self.ppid:
                logger.warning("Supervisor {} is gone; stopping", self.ppid)
                self.stopping.set()
                return
            if self.handlers is not None and self.handlers.exhausted and not self.exhausted:
                self.exhausted = True
                logger.critical("{} handler thread(s) hung past HANDLER_TIMEOUT_S: asking the supervisor for a "
                                "fresh worker", self.handlers.abandoned)
                self.stopping.set()
            await asyncio.sleep(1.0)

    async def _publish_every_second(self) -> None:
        while True:
            await self._publish_metrics()
            await asyncio.sleep(1.0)

    async def _publish_metrics(self) -> None:
        try:
            await asyncio.wait_for(self.metrics.publish(), self.settings.redis_timeout_s)
        except Exception as exc:               # counters for `botrunner status`: a Redis blip only delays them
            logger.debug("Could not publish sender metrics: {!r}", exc)
            record.redis_error("worker", exc)


async def _poll_once_settled(poller: Poller, reader: LaneReader) -> None:
    """Poll only once this worker's cohort agreed on the lanes: nothing waits in a lane nobody may take yet."""
    await reader.settled.wait()
    await poller.run()


def lane_read_redis(s: Settings) -> aioredis.Redis:
    """The lane reader's XREADGROUP client: no retry of its own (retries=0), so a read cut after Redis
    delivered it is seen by the reader, which then takes those lanes anew instead of reading past them."""
    return redis_clients.async_client(s, s.redis_dedup_db, timeout=s.redis_timeout_s, retries=0,
                                      health_check_interval=30)


def pipeline_redis(s: Settings) -> aioredis.Redis:
    """The worker's pipeline client: a blocking pool (under a burst, callers wait for a connection instead
    of failing) whose calls time out after REDIS_TIMEOUT_S, so a silent Redis fails calls, never hangs them."""
    return redis_clients.async_client(s, s.redis_dedup_db, timeout=s.redis_timeout_s, pool_size=64,
                                      health_check_interval=30)

