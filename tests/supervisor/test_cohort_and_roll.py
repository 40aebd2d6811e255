"""The supervisor's side of lane handover (pure): workers started in one go form one cohort (they join
the lane assignment together), a respawn is a cohort of one, and a SIGHUP roll retires an old worker only
once the new one has joined (its heartbeat file says so), not merely booted."""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

from botrunner.supervisor.arbiter import Supervisor
from botrunner.worker.heartbeat import HeartbeatFile


def test_workers_started_in_one_go_form_one_cohort_and_a_respawn_is_alone(settings, monkeypatch):
    supervisor = Supervisor(settings.replace(workers=4))
    cohorts = []

    def spawn(cohort=None):
        cohorts.append(cohort)
        pid = 1000 + len(cohorts)
        supervisor.workers[pid] = SimpleNamespace(retiring=False, age=len(cohorts))
        return pid
    monkeypatch.setattr(supervisor, "spawn_worker", spawn)
    supervisor.manage_workers()
    assert len(cohorts) == 4 and len(set(cohorts)) == 1 and cohorts[0].size == 4
    del supervisor.workers[1002]                     # one died: its replacement joins on its own
    supervisor.manage_workers()
    assert cohorts[4].size == 1 and cohorts[4].id != cohorts[0].id


def test_a_roll_retires_the_old_worker_only_once_the_new_one_joined(settings, monkeypatch):
    supervisor = Supervisor(settings)
    retired = []
    monkeypatch.setattr(supervisor, "retire", lambda pid, why: retired.append(pid))
    new_beat = HeartbeatFile()
    try:
        supervisor.workers = {1: SimpleNamespace(retiring=False, age=1), 2: SimpleNamespace(heartbeat=new_beat)}
        supervisor.rolling, supervisor.roll_new = [1], 2
        new_beat.notify()                            # booted (beating) but not yet in the lane assignment
        supervisor.step_roll()
        assert retired == []
        new_beat.mark_joined()
        supervisor.step_roll()
        assert retired == [1]
    finally:
        new_beat.close()


def test_marking_joined_keeps_the_heartbeat_on_the_monotonic_clock():
    beat = HeartbeatFile()
    try:
        assert not beat.joined()
        beat.mark_joined()
        assert beat.joined()
        assert abs(beat.last_update() - time.monotonic()) < 5       # not the wall-clock time the write set
        assert os.fstat(beat.fd).st_size == 1
    finally:
        beat.close()
