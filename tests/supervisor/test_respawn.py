"""Respawn backoff (pure): workers that die young are respawned after a doubling delay capped at 30 s;
one that lived resets it; the supervisor spawns nothing before the delay is over."""
from __future__ import annotations

import signal
import time
from types import SimpleNamespace

import pytest

from botrunner.errors import HaltServer
from botrunner.supervisor.arbiter import Supervisor


def worker(lived_s: float) -> SimpleNamespace:
    return SimpleNamespace(spawned_at=time.monotonic() - lived_s, retiring=False, aborted=False)     # monotonic, like Worker


def exited(code: int) -> int:
    return code << 8                       # a waitpid status


def test_workers_dying_young_back_off_doubling_to_a_cap_and_reset(settings):
    supervisor = Supervisor(settings)
    delays = []
    for n in range(8):
        status = exited(1) if n % 2 else signal.SIGKILL        # crashes and kills alike
        supervisor.log_exit(1000 + n, status, worker(lived_s=1))
        delays.append(supervisor.respawn_delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert supervisor.next_spawn_at > time.monotonic() + 25
    supervisor.log_exit(2000, exited(1), worker(lived_s=60))   # one that lived: no backoff any more
    assert supervisor.respawn_delay == 0.0


def test_no_spawn_before_the_backoff_is_over(settings, monkeypatch):
    supervisor = Supervisor(settings)
    spawned = []
    monkeypatch.setattr(supervisor, "spawn_worker", lambda cohort=None: spawned.append(cohort))
    supervisor.log_exit(1000, signal.SIGKILL, worker(lived_s=1))
    supervisor.next_spawn_at = time.monotonic() + 60
    supervisor.manage_workers()
    assert spawned == []
    supervisor.next_spawn_at = time.monotonic() - 1
    supervisor.manage_workers()
    assert len(spawned) == supervisor.num_workers


@pytest.mark.parametrize("code, halt", [(3, 3), (4, 4)])
def test_reserved_exit_codes_halt_the_supervisor(settings, code, halt):
    with pytest.raises(HaltServer) as raised:
        Supervisor(settings).log_exit(1000, exited(code), worker(lived_s=1))
    assert raised.value.exit_status == halt


def test_a_retired_worker_leaving_cleanly_is_no_reason_to_back_off(settings):
    supervisor = Supervisor(settings)
    retired = worker(lived_s=1)
    retired.retiring = True
    supervisor.log_exit(1000, exited(0), retired)
    assert supervisor.respawn_delay == 0.0 and supervisor.next_spawn_at == 0.0
