"""The chaos harness: real processes (a private redis-server, the local Bot API server, `botrunner start`
supervisors with their workers), a steady stream of updates from many users, and the measurements.

Every reply of the chaos bot is its update_id, so the server's log of sent messages is the ground
truth: an update is answered once, several times (duplicates), or never (lost); a chat's replies
out of update_id order are order violations. Nothing is read back from the faulted Redis except
what is left pending in the lanes at the end.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis

from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient
from botrunner.redis_keys import Keys
from botrunner.supervisor.embedded_redis import EmbeddedRedis
from botrunner.tools.status import snapshot
from tests.logs import warning_lines

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "424242:chaos-suite"
KEYS = Keys.for_token(TOKEN)
LANES = 16
LEASE_TTL_MS = 2000
ON_CLUSTER = {"enabled": False}     # on_cluster(): the scenarios' pipeline runs on a real Redis Cluster


@contextmanager
def on_cluster() -> Iterator[None]:
    """Run the scenarios started inside on a fresh 3-master + 3-replica Redis Cluster each (REDIS_CLUSTER=true)."""
    ON_CLUSTER["enabled"] = True
    try:
        yield
    finally:
        ON_CLUSTER["enabled"] = False


SLOW_RECOVERY_S = 30.0     # a recovery this long is unusual in every scenario (the longest fault is 12 s)


@dataclass
class Result:
    """One scenario's row in docs/reliability.md."""

    scenario: str
    updates: int = 0
    lost: int = 0
    duplicates: int = 0
    order_violations: int = 0
    dead_lettered: int = 0          # expected ones (a hanging handler), not losses
    pending_left: int = 0
    recovery_s: float = 0.0         # longest wait for a reply of any update injected from the fault on
    window: str = ""                # the documented, counted window this scenario may use
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict:
        return asdict(self)

    def report_if_unusual(self, slow_s: float = SLOW_RECOVERY_S) -> None:
        """A run within its bounds that still lost updates or took `slow_s` to recover passes, but says so in
        the warnings summary at the end of the test run, which CI prints (a passing test's output it does
        not): redis_restart_without_aof once took 100 s here instead of 10 in a full run, and passed."""
        if self.lost or self.recovery_s > slow_s:
            warnings.warn(f"chaos run within its bounds, but: {self}", UnusualChaosRun, stacklevel=2)


class UnusualChaosRun(UserWarning):
    """A chaos scenario that passed with losses or a long recovery (see Result.report_if_unusual)."""


class Stream(threading.Thread):
    """Injects `per_user` commands from each of `users` users, interleaved, at about `rate` updates/s."""

    def __init__(self, control: ControlClient, users: range, per_user: int, rate: float,
                 command: str = "start") -> None:
        super().__init__(daemon=True)
        self.control, self.users, self.per_user, self.rate, self.command = control, users, per_user, rate, command
        self.injected: list[tuple[int, int, float]] = []     # (update_id, chat, monotonic)
        self.extra: list[tuple[str, int]] = []               # (command, user) to slip in at the next batch
        self.commands: dict[int, str] = {}                   # update_id -> command
        self.lock = threading.Lock()

    def run(self) -> None:
        items = [(self.command, u) for _ in range(self.per_user) for u in self.users]
        step = max(1, int(self.rate / 10))
        for start in range(0, len(items), step):
            with self.lock:
                batch, self.extra = items[start:start + step] + self.extra, []
            self._inject(batch)
            time.sleep(step / self.rate)

    def _inject(self, batch: list[tuple[str, int]]) -> None:
        results = self.control.inject_batch(TOKEN, [{"kind": "command", "user_id": u, "command": c} for c, u in batch])
        now = time.monotonic()
        with self.lock:
            self.injected.extend((r["update_id"], u, now) for r, (_, u) in zip(results, batch))
            self.commands.update((r["update_id"], c) for r, (c, _) in zip(results, batch))

    def slip_in(self, command: str, user: int) -> None:
        with self.lock:
            self.extra.append((command, user))


def faketime_library() -> str | None:
    """libfaketime (Debian's `faketime` package), preloaded to step one supervisor's wall clock."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    return found[0] if found else None


def stepped_clock_env(library: str, offset_file: Path) -> dict[str, str]:
    """The environment of a process whose wall clock follows `offset_file` ("+60", "-60") while its
    monotonic clock, and every wait measured on it, stays the host's.

    FAKETIME_DONT_FAKE_MONOTONIC alone is not enough: libfaketime's pthread_cond_timedwait still
    shifts the deadline of a CLOCK_MONOTONIC condition variable by its fake time ("the forced
    monotonic fix" it applies on glibc >= 2.30). CPython's GIL waits on one such variable for its
    5 ms switch interval, so with the fix on a thread waiting for the GIL waited up to a second
    (+0, +60) or far longer (-60) instead of forcing a switch: the event loop of the stepped worker
    starved behind its handler threads for seconds, its lane leases lapsed, and the other
    supervisor took over replies already sent but not yet journaled (duplicates no real clock step
    causes: a step moves neither the monotonic clock nor the GIL's deadlines).
    FAKETIME_FORCE_MONOTONIC_FIX=0 passes the monotonic deadline through untouched.
    Left as is: time.sleep() fails with EINVAL in such a process (libfaketime's clock_nanosleep
    mixes the fake wall clock into an absolute monotonic deadline); botrunner's supervisor waits
    on select() and its workers on asyncio, so neither calls it while running."""
    return {"LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": str(offset_file), "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_FORCE_MONOTONIC_FIX": "0"}


class ChaosRun:
    """One scenario's world: its own redis-server, the local Bot API server, supervisors, a stream."""

    def __init__(self, name: str, appendonly: bool = True) -> None:
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="chaos-"))
        self.cluster = None
        if ON_CLUSTER["enabled"]:
            from tests.redis_cluster import ClusterNodes
            self.cluster = ClusterNodes(self.dir / "cluster")
        self.redis = EmbeddedRedis(self.dir / "r", appendonly=appendonly)
        self.redis_url = self.redis.url          # a cluster's URL once its nodes are up (__enter__)
        self.supervisors: list[subprocess.Popen] = []
        self.fault_at = 0.0
        self.expected_dead: set[int] = set()

    def __enter__(self) -> "ChaosRun":
        if self.cluster is not None:
            self.cluster.start()
            self.client = redis.RedisCluster.from_url(self.cluster.url, socket_timeout=5)
            self.redis_url = self.cluster.url
        else:
            self.redis.start()
            self.client = redis.Redis(unix_socket_path=self.redis.socket, socket_timeout=5)
        self._emulator = running_emulator(port=0)
        self.emu = self._emulator.__enter__()
        self.control = ControlClient(self.emu.url)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
        self.control.close()
        self._emulator.__exit__(None, None, None)
        if self.cluster is not None:
            self.client.close()
            self.cluster.stop()
        else:
            self.redis.kill()
        self._keep_logs()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _keep_logs(self) -> None:
        """With CHAOS_LOGS_DIR set, the supervisors' logs outlive the run (in a directory named after it):
        a scenario that passes slowly in a full run leaves something to read."""
        keep = os.environ.get("CHAOS_LOGS_DIR")
        if not keep:
            return
        target = Path(keep) / f"{time.strftime('%H%M%S')}-{''.join(c if c.isalnum() else '-' for c in self.name)}"
        target.mkdir(parents=True, exist_ok=True)
        for log in Path(self.dir).glob("supervisor-*.log"):
            shutil.copy(log, target / log.name)

    # --- processes ---
    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BOT_", "NOTIFY_SOCKET", "SEND_"))}
        env.update(BOT_TOKEN=TOKEN, REDIS_URL=self.redis_url, STATE_DIR=str(self.dir / "state"), LANES=str(LANES),
                   POLL_LEASE_TTL_MS=str(LEASE_TTL_MS), LANE_LEASE_TTL_MS=str(LEASE_TTL_MS), HEARTBEAT_TIMEOUT_S="6",
                   DRAIN_TIMEOUT_S="5", POLL_TIMEOUT_S="25", HANDLER_THREADS="8", CHAT_RUNNERS="16", REDIS_TIMEOUT_S="2",
                   HANDLER_TIMEOUT_S="30", SEND_LIMITS="false", BOT_HANDLERS="tests.chaos.bot_app:router",
                   PYTHONPATH=str(ROOT), BOTRUNNER_ENV_FILE="/nonexistent.env", LOG_LEVEL="info")
        if self.cluster is not None:
            env.update(REDIS_CLUSTER="true")
        env.update(extra)
        return env

    def start(self, workers: int = 2, wait: bool = True, **extra: str) -> subprocess.Popen:
        log = open(self.dir / f"supervisor-{len(self.supervisors)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "botrunner", "start", "--workers", str(workers),
                                 "--api-url", self.emu.url], env=self.env(**extra), cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.supervisors.append(proc)
        if wait:
            self.wait_until(lambda: len(self.worker_pids(proc.pid)) >= workers and self.lanes_owned() == LANES
                            and self.client.get(KEYS.poll_lease), 60, f"{workers} workers of {proc.pid} ready")
        return proc

    def stop_all(self) -> None:
        for proc in self.supervisors:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.supervisors:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def worker_pids(self, supervisor_pid: int | None = None) -> list[int]:
        pids = []
        for worker_id in self._quiet(lambda: self.client.zrange(KEYS.workers, 0, -1), []):
            pid = int(worker_id.decode().split(":")[1])
            if supervisor_pid is None or _parent(pid) == supervisor_pid:
                pids.append(pid)
        return pids

    def poller_pid(self) -> int | None:
        value = self._quiet(lambda: self.client.get(KEYS.poll_lease), None)
        return int(value.decode().split(":")[2]) if value else None

    def lanes_owned(self) -> int:
        return sum(1 for n in range(LANES) if self._quiet(lambda n=n: self.client.exists(KEYS.lane_owner(n)), 0))

    def log(self, proc: subprocess.Popen) -> str:
        return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]

    # --- the stream and the verdict ---
    def stream(self, users: int = 40, per_user: int = 10, rate: float = 60.0, command: str = "start") -> Stream:
        stream = Stream(self.control, range(5000, 5000 + users), per_user, rate, command)
        stream.start()
        return stream

    def mark_fault(self) -> None:
        self.fault_at = time.monotonic()

    def replies(self, chats: set[int]) -> dict[int, list[tuple[int, float]]]:
        out = {}
        for chat in chats:
            out[chat] = [(int(e["text"]), e["monotonic"]) for e in self.control.sent(TOKEN, chat)
                         if e.get("method") == "sendMessage" and str(e.get("text", "")).isdigit()]
        return out

    def settle(self, stream: Stream, timeout: float = 90.0) -> None:
        """Wait for the stream to end and every update to be answered (or dead-lettered, when expected)."""
        stream.join(timeout)

        def answered() -> bool:
            chats = {chat for _, chat, _ in stream.injected}
            got = {uid for rows in self.replies(chats).values() for uid, _ in rows}
            return all(uid in got or uid in self.expected_dead for uid, _, _ in stream.injected) and self.drained()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not answered():
            time.sleep(0.5)

    def drained(self) -> bool:
        return self.pending_left() == 0

    def pending_left(self) -> int:
        try:
            snap = snapshot(self.client, KEYS, LANES)
        except redis.RedisError:
            return -1
        return sum(pending + undelivered for _, pending, undelivered, _ in snap.lanes)

    def result(self, stream: Stream, window: str = "") -> Result:
        chats = {chat for _, chat, _ in stream.injected}
        replies = self.replies(chats)
        counts = Counter(uid for rows in replies.values() for uid, _ in rows)
        first_reply = {}
        for rows in replies.values():
            for uid, at in rows:
                first_reply.setdefault(uid, at)
        res = Result(self.name, updates=len(stream.injected), window=window)
        res.lost = sum(1 for uid, _, _ in stream.injected if uid not in counts and uid not in self.expected_dead)
        res.duplicates = sum(n - 1 for n in counts.values() if n > 1)
        res.dead_lettered = int(self._quiet(lambda: self.client.get(KEYS.dead_count), 0) or 0)
        res.order_violations = sum(_inversions([uid for uid, _ in rows]) for rows in replies.values())
        res.pending_left = self.pending_left()
        waits = [first_reply[uid] - at for uid, _, at in stream.injected if at >= self.fault_at and uid in first_reply]
        res.recovery_s = round(max(waits), 2) if waits and self.fault_at else 0.0
        if self.cluster is not None:
            res.notes.append(f"redis: cluster of {len(self.cluster.master_ports())} masters")
        if res.lost or res.recovery_s > SLOW_RECOVERY_S:
            res.notes.extend(self.diagnosis())
        return res

    def diagnosis(self) -> list[str]:
        """What a run that lost updates leaves to read in its failure message (a CI log shows nothing else):
        whether Telegram still holds them (never fetched: the intake stalled) or not (fetched, then lost),
        the getUpdates calls, and the supervisors' last warnings."""
        notes = []
        try:
            state = self.control.state(TOKEN)
            stats = self.control.poll_stats(TOKEN)
            notes.append(f"the Bot API server still holds {state['pending_updates']} update(s); getUpdates: "
                         f"{stats['total_calls']} calls, {stats['conflicts']} conflicts, {stats['in_flight']} in flight")
        except Exception as exc:
            notes.append(f"the Bot API server's state: {exc!r}")
        for n, proc in enumerate(self.supervisors):
            lines = warning_lines(self.log(proc))
            notes.append(f"supervisor {n}: {len(lines)} warning(s), the last: " + " | ".join(
                line[:300] for line in lines[-15:]))
        return notes

    def wait_until(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self._quiet(predicate, None)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"{self.name}: timed out after {timeout}s waiting for {what}")

    @staticmethod
    def _quiet(fn, default):
        try:
            return fn()
        except (redis.RedisError, OSError):
            return default


def _inversions(order: list[int]) -> int:
    """Replies of one chat answered after a later update of that chat had been answered (first answers only)."""
    seen, highest, bad = set(), -1, 0
    for uid in order:
        if uid in seen:
            continue
        seen.add(uid)
        if uid < highest:
            bad += 1
        highest = max(highest, uid)
    return bad


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
