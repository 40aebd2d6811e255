"""Sentinel failover under load, with the chaos harness: real `botrunner start` supervisors and
workers, the local Bot API server, a stream of updates from many users, and a master + replicas +
3 Sentinels (tests/redis_ha/servers.py) instead of one redis-server. The master is killed
(kill -9) mid-stream; the Sentinels promote a replica; every component must find the new master
by itself. Used by tests/redis_ha/test_failover.py and benchmarks/sentinel_failover.py.

Measured per run: lost / duplicates / order violations (from the Bot API server's log of replies),
what is left pending, how long the Sentinels took to promote a replica (`failover_s`), and the
recovery: the longest any update injected from the kill on waited for its reply.

The duplicate window has two parts (docs/reliability.md, Sentinel failover), and each run measures
what bounds them: (1) replies whose journal entry could not be written before the outage ended:
at most one call per update being handled at the fault, `CHAT_RUNNERS` per worker; (2) replies
whose journal entry or completion the master acknowledged but no replica had received yet. Right
before the fault a probe write is confirmed by every replica (`WAIT`): everything acknowledged
before it survives on whichever replica is promoted, so (2) can only hold updates answered from
shortly before the probe (COMPLETION_LAG_S: a reply's completion follows it by a round trip) to the
fault: `in_lag_window`.
"""
from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass

from botrunner import redis_clients
from botrunner.config.settings import load_settings
from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient
from tests.chaos.harness import ChaosRun, Result
from tests.redis_ha.servers import SentinelSet

FAILOVER_WINDOW = ("a failover: replies whose journal entry was not written before the outage (at most one "
                   "per update being handled), and replies whose completion the replica had not received yet, "
                   "are sent again")


COMPLETION_LAG_S = 0.5      # longest a reply's journal entry / completion write may follow it (generous)
PROBE_WAIT_MS = 2000


@dataclass
class FailoverResult(Result):
    """A chaos row plus what bounds the duplicates: the replicas' confirmation right before the fault."""

    replicas_confirmed: int = 0      # replicas that confirmed the probe write (WAIT) before the fault
    replicas: int = 0
    in_lag_window: int = 0           # updates first answered from COMPLETION_LAG_S before the probe to the fault


class SentinelRun(ChaosRun):
    """A chaos world whose Redis is a Sentinel-managed master with `replicas` replicas."""

    def __init__(self, name: str, replicas: int = 2) -> None:
        super().__init__(name)
        self.ha = SentinelSet(replicas)

    def __enter__(self) -> "SentinelRun":
        self.ha.__enter__()
        try:
            settings = load_settings(environ=self.ha.env(), env_file=None)
            self.client = redis_clients.sync_client(settings, 0, timeout=5)     # follows the failover too
            self._emulator = running_emulator(port=0)
            self.emu = self._emulator.__enter__()
            self.control = ControlClient(self.emu.url)
        except BaseException:
            self.ha.__exit__()         # no __exit__ follows a failed __enter__: the servers must not outlive it
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
        self.control.close()
        self._emulator.__exit__(None, None, None)
        self.ha.__exit__(None, None, None)
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self, **extra: str) -> dict[str, str]:
        env = super().env(**extra)
        env.pop("REDIS_URL", None)
        env.update(self.ha.env())
        env.update(extra)
        return env

    def probe_replication(self) -> None:
        """Just before the fault: a write on the master that every replica must confirm (WAIT)."""
        master = self.ha.server_client(self.ha.current_master())
        self.probe_at = time.monotonic()
        master.set("botrunner:test:replication-probe", str(self.probe_at))
        self.confirmed = int(master.wait(len(self.ha.servers) - 1, PROBE_WAIT_MS))

    def failover_result(self, stream, window: str) -> FailoverResult:
        base = self.result(stream, window)
        res = FailoverResult(**base.row())
        res.replicas, res.replicas_confirmed = len(self.ha.servers) - 1, self.confirmed
        first: dict[int, float] = {}
        for rows in self.replies({chat for _, chat, _ in stream.injected}).values():
            for uid, at in rows:
                first.setdefault(uid, at)
        res.in_lag_window = sum(1 for at in first.values() if self.probe_at - COMPLETION_LAG_S <= at <= self.fault_at)
        return res


def kill_master_mid_stream(replicas: int = 2, restart_after_s: float | None = None,
                           workers: int = 2, **settings: str) -> FailoverResult:
    """kill -9 the master 2.5 s into a stream of 400 updates; with `restart_after_s`, start the
    killed server again that much later (as systemd's Restart= would): it rejoins as a replica.
    `settings`: extra environment for the supervisors (INTAKE_WAIT_REPLICAS="0", ...)."""
    name = f"Sentinel failover: kill -9 of the master ({replicas} replica{'s' if replicas > 1 else ''}"
    name += f", old master back after {restart_after_s:g} s" if restart_after_s is not None else ""
    name += "".join(f", {k}={v}" for k, v in settings.items()) + ")"
    with SentinelRun(name, replicas) as run:
        run.start(workers, **settings)
        stream = run.stream()
        time.sleep(2.5)
        old = run.ha.master_address()
        run.probe_replication()
        run.mark_fault()
        killed = run.ha.kill_master()
        killed_at = time.monotonic()
        run.ha.wait_failover(old, 60)
        failover_s = time.monotonic() - killed_at
        if restart_after_s is not None:          # after the promotion, else it would simply be the master again
            time.sleep(max(0.0, killed_at + restart_after_s - time.monotonic()))
            run.ha.restart(killed)
        run.settle(stream, 120)
        res = run.failover_result(stream, FAILOVER_WINDOW)
        res.notes.append(f"promoted after {failover_s:.1f} s")
        return res


def pause_master_mid_stream(seconds: float = 5.0, replicas: int = 2, workers: int = 2,
                            **settings: str) -> FailoverResult:
    """SIGSTOP the master (a partition, a stalled host) longer than down-after-milliseconds: the
    Sentinels promote a replica; then SIGCONT. The old master wakes up still believing it is the
    master, with its clients' connections open, until the Sentinels demote it: writes it takes
    meanwhile are lost with its demotion, so none of them may count (it has no replica to WAIT on)."""
    name = f"Sentinel failover: master paused {seconds:g} s ({replicas} replicas"
    name += "".join(f", {k}={v}" for k, v in settings.items()) + ")"
    with SentinelRun(name, replicas) as run:
        run.start(workers, **settings)
        stream = run.stream()
        time.sleep(2.5)
        old = run.ha.master_address()
        paused = run.ha.current_master()
        run.probe_replication()
        run.mark_fault()
        paused.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            run.ha.wait_failover(old, 60)
            failover_s = time.monotonic() - stopped_at
            time.sleep(max(0.0, stopped_at + seconds - time.monotonic()))
        finally:
            paused.signal(signal.SIGCONT)
        run.settle(stream, 120)
        res = run.failover_result(stream, FAILOVER_WINDOW)
        res.notes.append(f"promoted after {failover_s:.1f} s")
        return res
