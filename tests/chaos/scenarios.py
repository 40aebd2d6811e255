"""The chaos scenarios: each starts a real cluster, streams updates from many users, injects one fault
mid-stream and returns the measured Result. tests/chaos/test_chaos.py asserts on them;
`python -m tests.chaos.report` runs them all and rewrites the table in docs/reliability.md.

Each Result names the window the scenario may use (documented in docs/reliability.md); anything
outside it fails the test.
"""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.chaos.harness import LEASE_TTL_MS, ChaosRun, Result, faketime_library, stepped_clock_env

NO_WINDOW = "none: exactly once, in order"
CRASH_WINDOW = "a reply accepted by Telegram but not yet journaled when the process died is sent again"
LOSS_WINDOW = ("Redis lost its data: updates stored but not yet read are gone; the last batch not yet "
               "confirmed to Telegram is fetched and handled again")


def redis_sigstop(seconds: float) -> Callable[[], Result]:
    def scenario() -> Result:
        with ChaosRun(f"Redis SIGSTOP {seconds:g} s") as run:
            sup = run.start(2)
            stream = run.stream()
            time.sleep(2)
            run.mark_fault()
            os.kill(run.redis.process.pid, signal.SIGSTOP)
            time.sleep(seconds)
            os.kill(run.redis.process.pid, signal.SIGCONT)
            run.settle(stream)
            res = run.result(stream, NO_WINDOW)
            aborted = run.log(sup).count("sending SIGABRT")
            res.notes.append(f"workers SIGABRTed: {aborted}")
            return res
    return scenario


def data_loss(restart: bool) -> Callable[[], Result]:
    def scenario() -> Result:
        name = "Redis restart without AOF" if restart else "Redis FLUSHALL"
        with ChaosRun(name, appendonly=not restart) as run:
            run.start(2)
            stream = run.stream()
            time.sleep(2.5)
            run.mark_fault()
            if restart:
                run.redis.kill()
                run.redis.start()
            else:
                run.client.flushall()
            run.settle(stream)
            res = run.result(stream, LOSS_WINDOW)
            from botrunner.tools.status import snapshot
            from tests.chaos.harness import KEYS, LANES
            res.notes.append(f"data losses in status: {snapshot(run.client, KEYS, LANES).data_losses}")
            return res
    return scenario


def kill_worker(poller: bool) -> Callable[[], Result]:
    def scenario() -> Result:
        with ChaosRun("kill -9 of the poll-lease holder" if poller else "kill -9 of a worker") as run:
            run.start(2)
            stream = run.stream()
            time.sleep(2)
            holder = run.poller_pid()
            victim = holder if poller else next(p for p in run.worker_pids() if p != holder)
            run.mark_fault()
            os.kill(victim, signal.SIGKILL)
            run.settle(stream)
            return run.result(stream, CRASH_WINDOW)
    return scenario


def sigstop_worker(ttls: float) -> Callable[[], Result]:
    """A worker paused for `ttls` times its lane lease TTL while slow handlers run (the duplicate the review saw)."""
    def scenario() -> Result:
        return _sigstop_worker(ttls)
    return scenario


def _sigstop_worker(ttls: float) -> Result:
    with ChaosRun(f"SIGSTOP of a worker, {ttls:g}x lease TTL, slow handlers") as run:
        run.start(2, SLOW_S="0.1")
        stream = run.stream(users=30, per_user=8, rate=40, command="slow")
        time.sleep(2.5)
        victim = next(p for p in run.worker_pids() if p != run.poller_pid())
        run.mark_fault()
        os.kill(victim, signal.SIGSTOP)
        time.sleep(ttls * LEASE_TTL_MS / 1000)
        os.kill(victim, signal.SIGCONT)
        run.settle(stream)
        return run.result(stream, "a call in flight at the moment of the pause may be sent again by the new owner")


def rebalance_storm() -> Result:
    with ChaosRun("rebalance storm (TTIN/TTOU/HUP every 2 s), slow handlers, limits on") as run:
        sup = run.start(2, SLOW_S="0.2", SEND_LIMITS="true")
        stream = run.stream(users=20, per_user=8, rate=20, command="slow")
        run.mark_fault()
        for sig in (signal.SIGTTIN, signal.SIGHUP, signal.SIGTTOU, signal.SIGTTIN, signal.SIGTTOU, signal.SIGHUP):
            time.sleep(2)
            os.kill(sup.pid, sig)
        run.settle(stream, timeout=120)
        return run.result(stream, CRASH_WINDOW)


def second_supervisor() -> Result:
    with ChaosRun("a second supervisor joins and leaves") as run:
        run.start(2)
        stream = run.stream()
        time.sleep(1.5)
        run.mark_fault()
        other = run.start(2, wait=False)
        time.sleep(4)
        os.killpg(other.pid, signal.SIGTERM)
        run.settle(stream)
        return run.result(stream, NO_WINDOW)


def hanging_handler() -> Result:
    with ChaosRun("a handler that hangs (HANDLER_TIMEOUT_S=2)") as run:
        run.start(2, HANDLER_TIMEOUT_S="2")
        stream = run.stream()
        time.sleep(1.5)
        run.mark_fault()
        for user in (5001, 5002, 5003):
            stream.slip_in("hang", user)
        time.sleep(1)
        run.expected_dead = {uid for uid, command in stream.commands.items() if command == "hang"}
        run.settle(stream)
        run.expected_dead = {uid for uid, command in stream.commands.items() if command == "hang"}
        return run.result(stream, "the hung update is dead-lettered (counted), its chat moves on")


def clock_steps() -> Result:
    library = faketime_library()
    if library is None:
        raise RuntimeError("libfaketime is missing: apt-get install -y faketime (make test-deps does it)")
    with ChaosRun("wall-clock steps of +60 s and -60 s on one supervisor") as run:
        offset = Path(run.dir) / "faketime"
        offset.write_text("+0\n")
        run.start(1)
        stepped = run.start(1, **stepped_clock_env(library, offset))   # the wall clock steps, the monotonic one never does
        stream = run.stream()
        time.sleep(1.5)
        run.mark_fault()
        offset.write_text("+60\n")
        time.sleep(2.5)
        offset.write_text("-60\n")
        time.sleep(2.5)
        offset.write_text("+0\n")
        run.settle(stream)
        res = run.result(stream, NO_WINDOW)
        res.notes.append(f"workers SIGABRTed: {run.log(stepped).count('sending SIGABRT')}")
        return res


SCENARIOS: dict[str, Callable[[], Result]] = {
    "redis_sigstop_4s": redis_sigstop(4),
    "redis_sigstop_8s": redis_sigstop(8),
    "redis_sigstop_12s": redis_sigstop(12),
    "redis_flushall": data_loss(restart=False),
    "redis_restart_without_aof": data_loss(restart=True),
    "kill_worker": kill_worker(poller=False),
    "kill_poller": kill_worker(poller=True),
    "sigstop_worker": sigstop_worker(1.5),
    "sigstop_worker_3x": sigstop_worker(3),
    "rebalance_storm": rebalance_storm,
    "second_supervisor": second_supervisor,
    "hanging_handler": hanging_handler,
    "clock_steps": clock_steps,
}
