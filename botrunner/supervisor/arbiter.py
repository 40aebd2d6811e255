"""The supervisor (prefork, gunicorn-arbiter style): owns the worker table and nothing else does.

Signal handlers only enqueue. The main loop is a fixed sequence: wait (1 s, or until a signal),
dispatch queued signals to handle_<name>, kill workers whose heartbeat stopped, recycle workers
over MAX_WORKER_MEMORY_MB, reap, roll one worker if a SIGHUP is in progress, respawn (with
backoff after quick deaths), and tell systemd how things are.
In webhook mode the supervisor calls setWebhook once per start, before the first worker.
"""
from __future__ import annotations

import errno
import os
import secrets
import select
import signal
import socket
import sys
import time
from signal import Signals
from types import FrameType
from typing import cast

import redis
from loguru import logger

from botrunner import redis_clients
from botrunner.backoff import Backoff
from botrunner.config.settings import Settings
from botrunner.errors import ApiError, HaltServer
from botrunner.intake.poller import long_poll_timeout
from botrunner.lanes.membership import Cohort
from botrunner.memory import rss_mb
from botrunner.metrics import multiproc, record
from botrunner.redis_keys import Keys
from botrunner.supervisor.embedded_redis import EmbeddedRedis
from botrunner.supervisor.key_migration import convert_conversations, migrate_layout
from botrunner.supervisor.pipeline_guard import EXIT_UNSAFE, RECHECK_S, guard_at_start, split_database
from botrunner.supervisor.sd_notify import SystemdNotifier
from botrunner.worker.heartbeat import HeartbeatFile
from botrunner.worker.process import WORKER_BOOT_ERROR, WORKER_EXHAUSTED, WORKER_FATAL, Worker

SIGNALS = [getattr(signal, f"SIG{name}") for name in "HUP QUIT INT TERM TTIN TTOU".split()]
SIG_NAMES = {sig: sig.name[3:].lower() for sig in SIGNALS}


class Supervisor:
    """Runs `settings.workers` worker processes until told to stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.num_workers = settings.workers
        self.workers: dict[int, Worker] = {}
        self.sig_queue: list[Signals] = []
        self.pipe: tuple[int, int] = (-1, -1)
        self.worker_age = 0
        self.cohorts = 0                        # groups of workers started together (they join the lanes together)
        # unique per supervisor run even where the pid repeats (pid 1 in a container): cohorts never mix
        self.cohort_prefix = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.respawn_delay = 0.0
        self.respawn_backoff = Backoff(first=0.5, cap=30.0, jitter=False)   # quick deaths in a row
        self.next_spawn_at = 0.0
        self.rolling: list[int] = []            # old pids still to be replaced by a SIGHUP roll
        self.roll_new: int | None = None
        self.embedded: EmbeddedRedis | None = None
        self.notifier = SystemdNotifier()
        self.started = time.time()
        self.last_watchdog = 0.0
        self.redis: redis.Redis | None = None
        self.last_db_check = time.monotonic()

    # --- lifecycle ---
    def run(self) -> int:
        """Start, loop until a stop, stop; returns the process exit status."""
        try:
            self.start()           # may halt: setWebhook refused
            while True:
                sig = self.sig_queue.pop(0) if self.sig_queue else None
                if sig is None:
                    self.sleep()
                    self.murder_workers()
                    self.recycle_fat_workers()
                    self.reap_workers()
                    self.step_roll()
                    self.manage_workers()
                    self.tell_systemd()
                    self.recheck_database()
                    continue
                logger.info("Received SIG{}{}", sig.name[3:], self._signal_note(sig))
                getattr(self, f"handle_{SIG_NAMES[sig]}")()
        except StopIteration:
            return self.stop(graceful=True)
        except KeyboardInterrupt:
            return self.stop(graceful=False)
        except HaltServer as halt:
            logger.critical("Halting: {}", halt.reason)
            self.stop(graceful=True)
            return halt.exit_status

    def start(self) -> None:
        """Embedded Redis if needed, signals, the first workers, READY=1."""
        multiproc.prepare(self.settings)           # before any worker: the metric files start empty
        if self.settings.embedded_redis:
            self.embedded = start_embedded_redis(self.settings)
        self.redis = redis_clients.sync_client(self.settings, self.settings.redis_dedup_db, timeout=2)
        keys = Keys.for_token(self.settings.bot_token)
        guard_at_start(self.settings, self.redis, keys)
        migrate_layout(self.redis, keys)                 # once, before any worker
        convert_conversations(self.settings, keys)       # likewise: workers read conv: records only
        self.pipe = os.pipe()
        for fd in self.pipe:
            os.set_blocking(fd, False)
        for sig in SIGNALS:
            signal.signal(sig, self.signal)
        signal.signal(signal.SIGCHLD, self.handle_chld)
        self.claim_web_port()
        if self.settings.use_webhook:
            self.register_webhook()
        logger.info("Supervisor {} starting {} worker(s); Bot API {}; STATE_DIR {}", os.getpid(), self.num_workers,
                    self.settings.telegram_api_url, self.settings.state_path)
        self.manage_workers()
        self.notifier.ready(self.status_line())

    def stop(self, graceful: bool = True) -> int:
        """Warm (SIGTERM, wait out the drain deadline) or cold (SIGQUIT) stop of every worker."""
        self.notifier.stopping()
        for worker in self.workers.values():
            worker.retiring = True
        self.kill_workers(signal.SIGTERM if graceful else signal.SIGQUIT)
        deadline = time.monotonic() + (self.settings.drain_timeout_s + 5 if graceful else 3)
        first = time.monotonic()
        while self.workers and time.monotonic() < deadline:
            self.reap_workers(halt=False)
            sig = self.sig_queue.pop(0) if self.sig_queue else None
            # rq's rule: a second stop signal means cold stop, but not a duplicate within 1 s
            if graceful and sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT) and time.monotonic() - first > 1:
                logger.warning("Received SIG{} again: cold stop", sig.name[3:])
                self.kill_workers(signal.SIGQUIT)
                graceful, deadline = False, time.monotonic() + 3
            self.sleep(0.1)                     # SIGCHLD wakes it: reaped as soon as a worker exits
        if self.workers:
            logger.warning("Killing {} worker(s) that outlived the drain deadline", len(self.workers))
            self.kill_workers(signal.SIGKILL)
            self.sleep(0.2)
            self.reap_workers(halt=False)
        if self.embedded is not None:
            self.embedded.stop()
            logger.info("Embedded Redis stopped")
        logger.info("Supervisor {} stopped", os.getpid())
        return 0

    # --- signals ---
    def signal(self, sig: int, frame: FrameType | None) -> None:
        if len(self.sig_queue) < 5:
            self.sig_queue.append(signal.Signals(sig))
            self.wakeup()

    def handle_chld(self, sig: int, frame: FrameType | None) -> None:
        self.wakeup()

    def handle_term(self) -> None:
        raise StopIteration

    def handle_int(self) -> None:
        raise StopIteration

    def handle_quit(self) -> None:
        raise KeyboardInterrupt

    def handle_hup(self) -> None:
        logger.info("Rolling {} worker(s) one at a time", len(self.workers))
        self.rolling = sorted(self.workers, key=lambda pid: self.workers[pid].age)
        self.roll_new = None

    def handle_ttin(self) -> None:
        self.num_workers += 1
        logger.info("Worker count raised to {}", self.num_workers)

    def handle_ttou(self) -> None:
        if self.num_workers > 1:
            self.num_workers -= 1
            logger.info("Worker count lowered to {}", self.num_workers)

    def _signal_note(self, sig: Signals) -> str:
        return {signal.SIGTERM: ", stopping: draining workers", signal.SIGINT: ", stopping: draining workers",
                signal.SIGQUIT: ", cold stop", signal.SIGHUP: ", rolling workers"}.get(sig, "")

    def wakeup(self) -> None:
        try:
            os.write(self.pipe[1], b".")
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EINTR):
                raise

    def sleep(self, seconds: float = 1.0) -> None:
        """Wait on the self-pipe: a signal (SIGCHLD included) ends the wait early."""
        try:
            ready = select.select([self.pipe[0]], [], [], seconds)
            if ready[0]:
                while os.read(self.pipe[0], 1):
                    pass
        except OSError as exc:
            if getattr(exc, "errno", None) not in (errno.EAGAIN, errno.EINTR):
                raise

    # --- the worker table ---
    def spawn_worker(self, cohort: Cohort | None = None) -> int:
        """Fork one worker (of `cohort`: the workers started with it; alone by default); the child never returns."""
        self.worker_age += 1
        cohort = cohort or Cohort(f"{self.cohort_prefix}:w{self.worker_age}")
        worker = Worker(self.settings, HeartbeatFile(), self.worker_age, cohort)
        pid = os.fork()
        if pid != 0:
            worker.pid = pid
            self.workers[pid] = worker
            return pid
        worker.run()           # os._exit inside
        sys.exit(0)            # not reached

    def manage_workers(self) -> None:
        """Bring the number of live workers to the target (plus one while a roll's new worker boots)."""
        record.workers_running(len(self.workers))
        target = self.num_workers + (1 if self.roll_new is not None else 0)
        live = [pid for pid, w in self.workers.items() if not w.retiring]
        if len(live) < target and time.monotonic() >= self.next_spawn_at:
            # started together, they join the lane assignment together: nobody takes lanes to hand back
            self.cohorts += 1
            cohort = Cohort(f"{self.cohort_prefix}:{self.cohorts}", target - len(live))
            for _ in range(cohort.size):
                self.spawn_worker(cohort)
        elif len(live) > target:
            for pid in sorted(live, key=lambda p: self.workers[p].age)[:len(live) - target]:
                self.retire(pid, "the worker count was lowered")

    def retire(self, pid: int, why: str) -> None:
        """Warm-stop one worker."""
        logger.info("Stopping worker {}: {}", pid, why)
        self.workers[pid].retiring = True
        self.kill_worker(pid, signal.SIGTERM)

    def step_roll(self) -> None:
        """SIGHUP: start a new worker, wait until it has joined the lane assignment, warm-stop one old one; repeat."""
        while self.rolling and self.rolling[0] not in self.workers:
            self.rolling.pop(0)
        if not self.rolling:
            if self.roll_new is not None:
                logger.info("Roll finished")
            self.roll_new = None
            return
        if self.roll_new is None or self.roll_new not in self.workers:
            self.roll_new = self.spawn_worker()
            return
        new = self.workers[self.roll_new]
        old = self.workers[self.rolling[0]]
        if new.heartbeat.joined() and not old.retiring:     # it has its lanes: the old one's go to all
            record.worker_restart("rolled")
            self.retire(self.rolling[0], f"rolled; replaced by worker {self.roll_new}")
            self.rolling.pop(0)
            self.roll_new = None

    def kill_workers(self, sig: int) -> None:
        for pid in list(self.workers):
            self.kill_worker(pid, sig)

    def kill_worker(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            self.forget(pid)

    def forget(self, pid: int) -> None:
        worker = self.workers.pop(pid, None)
        if worker is not None:
            worker.heartbeat.close()

    def murder_workers(self) -> None:
        """Kill workers whose heartbeat stopped: SIGABRT first, SIGKILL if that did not end them.

        Both sides use the monotonic clock (heartbeat.py): a wall-clock step kills nobody."""
        now = time.monotonic()
        for pid, worker in list(self.workers.items()):
            silent = now - max(worker.heartbeat.last_update(), worker.spawned_at)
            if silent <= self.settings.heartbeat_timeout_s:
                continue
            if not worker.aborted:
                logger.critical("Worker {} timed out (no heartbeat for {:.0f}s); sending SIGABRT", pid, silent)
                worker.aborted = True
                self.kill_worker(pid, signal.SIGABRT)
            elif silent > self.settings.heartbeat_timeout_s + 5:
                self.kill_worker(pid, signal.SIGKILL)

    def recycle_fat_workers(self) -> None:
        for pid, worker in list(self.workers.items()):
            size = rss_mb(pid)
            if size > self.settings.max_worker_memory_mb and not worker.retiring:
                record.worker_restart("memory")
                self.retire(pid, f"RSS {size:.0f} MB passed MAX_WORKER_MEMORY_MB={self.settings.max_worker_memory_mb}")

    def reap_workers(self, halt: bool = True) -> None:
        """Collect exited workers; log why each ended; halt on boot errors."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            worker = self.workers.get(pid)
            self.forget(pid)
            multiproc.process_dead(pid)            # its live gauges go; its counters stay in the sums
            if worker is None:
                continue
            try:
                self.log_exit(pid, status, worker)
            except HaltServer:
                if halt:
                    raise

    def log_exit(self, pid: int, status: int, worker: Worker) -> None:
        lived = time.monotonic() - worker.spawned_at
        record.worker_exited(status, worker.aborted, worker.retiring)
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status))
            note = ": perhaps out of memory" if sig == signal.SIGKILL else ""
            logger.error("Worker {} killed by {}{}", pid, sig.name, note)
        else:
            code = os.WEXITSTATUS(status)
            if code == WORKER_BOOT_ERROR:
                raise HaltServer("a worker failed to boot (see its error above)", WORKER_BOOT_ERROR)
            if code == WORKER_FATAL:
                raise HaltServer("the Bot API rejected the bot token", WORKER_FATAL)
            if code == WORKER_EXHAUSTED:
                logger.error("Worker {} exited: hung handlers (HANDLER_TIMEOUT_S) took all its threads; replacing it",
                             pid)
            else:
                (logger.info if code == 0 else logger.error)("Worker {} exited with code {}", pid, code)
            if code == 0 and worker.retiring:
                return
        # a worker that dies young again and again: back off before the next spawn
        if lived < 10:
            self.respawn_delay = self.respawn_backoff.next_delay()
        else:
            self.respawn_backoff.reset()
            self.respawn_delay = 0.0
        self.next_spawn_at = time.monotonic() + self.respawn_delay
        if self.respawn_delay:
            logger.warning("Respawning in {:.1f}s", self.respawn_delay)

    # --- webhook ---
    def claim_web_port(self, wait_s: float = 15.0) -> None:
        """Refuse to start when another process listens on WEB_LISTEN (with SO_REUSEPORT it would get
        a share of our connections). Orphaned workers of a killed predecessor are waited for."""
        from botrunner.web.server import enabled_features, port_taken
        if not enabled_features(self.settings):
            return
        host, port = self.settings.web_address
        deadline = time.monotonic() + wait_s
        while port_taken(host, port):
            if time.monotonic() > deadline:
                raise HaltServer(f"{host}:{port} (WEB_LISTEN / WEBHOOK_PORT) is in use by another process; "
                                 "each bot on a host needs its own port")
            time.sleep(0.5)

    def register_webhook(self) -> None:
        """setWebhook once per start (never dropping pending updates); a refusal halts with the reason."""
        from botrunner.bot.router import load_router
        from botrunner.intake.webhook_registration import allowed_updates, set_webhook
        try:
            updates = allowed_updates(load_router(self.settings.bot_handlers))
        except Exception as exc:
            raise HaltServer(f"cannot load BOT_HANDLERS={self.settings.bot_handlers!r}: {exc!r}",
                             WORKER_BOOT_ERROR) from exc
        try:
            logger.info("Webhook mode: {}", set_webhook(self.settings, updates))
        except ApiError as exc:
            if exc.code == 0:      # no answer: the webhook set earlier still delivers to us
                logger.error("setWebhook got no answer ({}); serving anyway. Register it later with "
                             "`botrunner webhook set`", exc.description)
                return
            raise HaltServer(f"setWebhook was refused: {exc.code} {exc.description}", WORKER_FATAL) from exc

    # --- systemd ---
    def pipeline_healthy(self) -> bool:
        """The last successful poll (by any worker on any host) is recent, or we only just started.
        In webhook mode Telegram pushes: there is no poll to be recent."""
        if self.settings.use_webhook:
            return True
        grace = long_poll_timeout(self.settings.poll_timeout_s, self.settings.poll_lease_ttl_ms) + 30
        if time.time() - self.started < grace + self.settings.poll_lease_ttl_ms / 1000:
            return True
        if self.redis is None:
            return False
        try:
            last = cast("bytes | None", self.redis.get(Keys.for_token(self.settings.bot_token).poll_last))
            seconds, micros = cast("tuple[int, int]", self.redis.time())     # poll:last is on Redis' clock: compare on it too
        except redis.RedisError:
            return False
        return last is not None and seconds + micros / 1e6 - int(last) / 1000 < grace

    def tell_systemd(self) -> None:
        if not self.notifier.enabled:
            return
        now = time.monotonic()
        interval = self.notifier.watchdog_s / 2 if self.notifier.watchdog_s else 10.0
        if now - self.last_watchdog < interval:
            return
        self.last_watchdog = now
        healthy = self.pipeline_healthy()
        self.notifier.status(self.status_line() + ("" if healthy else "; no successful poll recently"))
        if healthy and self.notifier.watchdog_s:
            self.notifier.watchdog()

    def recheck_database(self) -> None:
        """Halt (exit 2) when workers of another host share this Redis while this host uses SQLite."""
        now = time.monotonic()
        if (self.redis is None or self.settings.mongodb_url or self.settings.embedded_redis
                or now - self.last_db_check < RECHECK_S):
            return
        self.last_db_check = now
        try:
            split = split_database(self.settings, self.redis, Keys.for_token(self.settings.bot_token))
        except redis.RedisError:
            return
        if split:
            raise HaltServer(split, EXIT_UNSAFE)

    def status_line(self) -> str:
        return f"{len(self.workers)} worker(s), target {self.num_workers}"


def start_embedded_redis(settings: Settings) -> EmbeddedRedis | None:
    """Start the private redis-server under STATE_DIR; adopt one that already answers there."""
    server = EmbeddedRedis(os.path.dirname(settings.embedded_redis_socket))
    try:
        if redis.Redis(unix_socket_path=server.socket, socket_timeout=1).ping():
            logger.warning("An embedded redis-server already answers on {} (left by a killed supervisor); "
                           "using it", server.socket)
            return None
    except (redis.RedisError, OSError):
        pass
    server.start()
    logger.info("No REDIS_URL/REDIS_HOST: running an embedded redis-server on {} (AOF on). For production set "
                "REDIS_URL=redis://host:6379", server.socket)
    return server
