"""Real-process fixtures: supervisors as `botrunner start` subprocesses (the local Bot API server is in
tests/conftest.py)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from botrunner.lanes.leases import assign
from botrunner.redis_keys import Keys
from tests.logs import warning_lines

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:runner-test"
KEYS = Keys.for_token(TOKEN)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition",
               explain: Callable[[], str] | None = None):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` s, with what
    `explain()` says of the state it was stuck in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}" + (f"\n{explain()}" if explain else ""))


class Cluster:
    """Supervisors started as `botrunner start` subprocesses against one Redis and one emulator."""

    def __init__(self, tmp_path: Path, redis_url: str, api_url: str) -> None:
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.api_url = api_url
        self.client = redis.Redis.from_url(redis_url)
        self.processes: list[subprocess.Popen] = []
        self.lane_ttl_ms = 2000

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BOT_", "NOTIFY_SOCKET"))}
        env.update(BOT_TOKEN=TOKEN, REDIS_URL=self.redis_url, TEST_RECORD_REDIS_URL=self.redis_url,
                   STATE_DIR=str(self.tmp_path / "state"), LANES="16", POLL_LEASE_TTL_MS="2000",
                   LANE_LEASE_TTL_MS="2000", HEARTBEAT_TIMEOUT_S="15", DRAIN_TIMEOUT_S="6", POLL_TIMEOUT_S="25",
                   HANDLER_THREADS="8", BOT_HANDLERS="tests.runner.bot_app:router", PYTHONPATH=str(ROOT),
                   BOTRUNNER_ENV_FILE="/nonexistent.env", LOG_LEVEL="info")
        env.update(extra)
        return env

    def start(self, workers: int = 2, wait: bool = True, **extra: str) -> subprocess.Popen:
        log = open(self.tmp_path / f"supervisor-{len(self.processes)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "botrunner", "start", "--workers", str(workers),
                                 "--api-url", self.api_url], env=self.env(**extra), cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log.name
        self.lane_ttl_ms = int(self.env(**extra)["LANE_LEASE_TTL_MS"])
        self.processes.append(proc)
        if wait:
            # settled(): every lane is with its assigned worker, so every worker holds floor(16 / N) or
            # ceil(16 / N) lanes (the assignment bounds the loads; botrunner.lanes.assignment)
            wait_until(lambda: len(self.worker_pids(proc.pid)) >= workers and self.settled()
                       and self.client.get(KEYS.poll_lease), 40, 0.2, what=f"{workers} workers of {proc.pid} ready",
                       explain=self.describe)
        return proc

    def workers(self) -> list[dict]:
        out = []
        for worker_id in self.client.zrange(KEYS.workers, 0, -1):
            info = {k.decode(): v.decode() for k, v in self.client.hgetall(KEYS.worker(worker_id.decode())).items()}
            if info:
                out.append(info)
        return out

    def worker_pids(self, supervisor_pid: int | None = None) -> list[int]:
        pids = [int(w["pid"]) for w in self.workers()]
        if supervisor_pid is None:
            return pids
        return [pid for pid in pids if _parent(pid) == supervisor_pid]

    def balanced(self, supervisor_pid: int, workers: int) -> bool:
        """Every worker of this supervisor is registered and holds at least one lane."""
        mine = [w for w in self.workers() if _parent(int(w["pid"])) == supervisor_pid]
        return len(mine) >= workers and all(w["lanes"] for w in mine)

    def settled(self) -> bool:
        """Every lane is held by the worker the assignment gives it to: no hand-over is in progress (an
        update read by a worker that is handing its lane over waits for the next owner)."""
        # the workers' own view of who is live (botrunner.lanes.membership.Registry.live)
        live = [w.decode() for w in self.client.zrangebyscore(KEYS.workers, time.time() * 1000 - self.lane_ttl_ms, "+inf")]
        owners = [self.client.get(KEYS.lane_owner(n)) for n in range(16)]
        wanted = assign(16, live)
        return bool(live) and all(o is not None and o.decode() == wanted[n] for n, o in enumerate(owners))

    def describe(self) -> str:
        """What a failed wait on the lanes needs to be read: the registry (with each entry's age and its
        worker's parent), each lane's owner and lease TTL against the assignment, and every supervisor
        log's warnings and errors (the workers log there)."""
        now_ms = time.time() * 1000
        lines = ["registry (worker id, ms since its beat, pid, parent):"]
        for worker_id, score in self.client.zrange(KEYS.workers, 0, -1, withscores=True):
            pid = self.client.hget(KEYS.worker(worker_id.decode()), "pid")
            parent = _parent(int(pid)) if pid else None
            lines.append(f"  {worker_id.decode()} {now_ms - score:.0f} {pid and pid.decode()} {parent}")
        live = [w.decode() for w in self.client.zrangebyscore(KEYS.workers, now_ms - self.lane_ttl_ms, "+inf")]
        wanted = assign(16, live) if live else {}
        lines.append("lanes (lane, owner, lease ms left, assigned to):")
        for n in range(16):
            owner = self.client.get(KEYS.lane_owner(n))
            lines.append(f"  {n} {owner and owner.decode()} {self.client.pttl(KEYS.lane_owner(n))} {wanted.get(n)}")
        for proc in self.processes:
            noted = [line for line in self.log(proc).splitlines() if re.search(r"WARNING|ERROR|CRITICAL", line)]
            lines.append(f"supervisor {proc.pid} (exit {proc.poll()}): {len(noted)} warning(s) or error(s), the last:")
            lines.extend(f"  {line}" for line in noted[-25:])
        return "\n".join(lines)

    def lanes_owned(self) -> int:
        return sum(1 for n in range(16) if self.client.exists(KEYS.lane_owner(n)))

    def poller_pid(self) -> int | None:
        value = self.client.get(KEYS.poll_lease)
        return int(value.decode().split(":")[2]) if value else None

    def handled(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.client.hgetall("handled:count").items()}

    def order(self, chat_id: int) -> list[int]:
        return [int(x) for x in self.client.lrange(f"handled:{chat_id}", 0, -1)]

    def log(self, proc: subprocess.Popen) -> str:
        return Path(proc.log_path).read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)     # the group: workers orphaned by kill -9 too
            except ProcessLookupError:
                pass


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.fixture
def cluster(tmp_path, redis_url, emulator):
    emu, _ = emulator
    group = Cluster(tmp_path, redis_url, emu.url)
    try:
        yield group
    finally:
        group.stop_all()
        group.client.close()


def inject(control, users: range, per_user: int, command: str = "start") -> dict[int, list[int]]:
    """Inject per_user commands from each user, interleaved, in batches; returns each chat's update_ids
    in the order they were injected (the order the chat must be handled in)."""
    items = [{"kind": "command", "user_id": user, "command": command} for _ in range(per_user) for user in users]
    sent: dict[int, list[int]] = {user: [] for user in users}
    for start in range(0, len(items), 500):
        for item, result in zip(items[start:start + 500], control.inject_batch(TOKEN, items[start:start + 500])):
            sent[item["user_id"]].append(result["update_id"])
    return sent


def stream(control, rounds: int, users: range = range(4000, 4030), started_after: int = 5):
    """Inject one command per user every 0.1 s for `rounds` rounds in a thread: (the thread, each chat's
    update_ids in order, an event set once `started_after` rounds are in)."""
    sent: dict[int, list[int]] = {}
    streaming = threading.Event()

    def feed() -> None:
        for round_ in range(rounds):
            for chat, ids in inject(control, users, per_user=1).items():
                sent.setdefault(chat, []).extend(ids)
            if round_ == started_after - 1:
                streaming.set()
            threading.Event().wait(0.1)
    feeder = threading.Thread(target=feed)
    feeder.start()
    return feeder, sent, streaming


def burst(control, users: range, per_user: int, command: str = "start") -> int:
    """Inject per_user commands from each user, interleaved, in batches; returns how many."""
    return sum(len(ids) for ids in inject(control, users, per_user, command).values())


def assert_chats_in_order(cluster: Cluster, sent: dict[int, list[int]], exactly_once: bool = True) -> None:
    """Every chat's updates were handled in the order they were sent; each once (or, after a kill -9, at
    least once, a repeat coming right after the handling it repeats)."""
    for chat, ids in sent.items():
        order = cluster.order(chat)
        if exactly_once:
            assert order == ids, f"chat {chat}: handled {order}, sent {ids}"
        else:
            assert order == sorted(order) and list(dict.fromkeys(order)) == ids, f"chat {chat}: {order} vs {ids}"


# what a worker logs when it hands an update on after its handler ran (botrunner/processing/processor.py):
# its lane's lease lapsed under the handler, or was lost at completion; the lane's next owner runs the
# handler again and sends only what the journal has not confirmed (docs/reliability.md)
HANDED_ON = re.compile(r"lapsed while the handler of update (\d+) ran|Update (\d+): .*its next owner finishes it")


def handed_on(cluster: Cluster) -> set[int]:
    """The update_ids the supervisors' workers logged as handed on after their handler ran."""
    found: set[int] = set()
    for proc in cluster.processes:
        for match in HANDED_ON.finditer(Path(proc.log_path).read_text(errors="replace")):
            found.add(int(match.group(1) or match.group(2)))
    return found


def warnings_logged(cluster: Cluster, last: int = 30) -> list[str]:
    lines = [line for proc in cluster.processes for line in warning_lines(Path(proc.log_path).read_text(errors="replace"))]
    return lines[-last:]


def assert_handled_once(cluster: Cluster, total: int) -> dict[int, int]:
    """Every update handled, and each once but where a worker logged that it handed the update on after
    its handler ran (the documented window: a lease that lapsed under a stalled worker). Returns the
    counts; the failure message names the updates and the workers' last warnings."""
    counts = cluster.handled()
    assert len(counts) == total, f"{total - len(counts)} of {total} update(s) never handled; {warnings_logged(cluster)}"
    again = {update for update, times in counts.items() if times > 1}
    unexplained = again - handed_on(cluster)
    assert not unexplained, (f"handled more than once, no worker logged handing them on: {sorted(unexplained)[:10]} "
                             f"({len(unexplained)}); the workers' last warnings: {warnings_logged(cluster)}")
    return counts


def assert_replies_in_order(control, sent: dict[int, list[int]], prefix: str = "hi") -> None:
    """Every chat got one reply per update, each naming its update, in the order the updates were sent."""
    for chat, ids in sent.items():
        texts = [e["text"] for e in control.sent(TOKEN, chat) if e["method"] == "sendMessage"]
        assert texts == [f"{prefix} {i}" for i in ids], f"chat {chat}: replies {texts}, updates {ids}"
