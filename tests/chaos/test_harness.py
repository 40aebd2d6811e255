"""The chaos harness itself: a run that loses updates says where they are, since a CI log shows only the
failure message."""
from __future__ import annotations

import os
import signal
import time
import warnings

import pytest

from tests.chaos.harness import ChaosRun, Result, UnusualChaosRun


def test_a_run_that_lost_updates_says_whether_telegram_still_holds_them_and_what_the_workers_logged(
        monkeypatch, tmp_path):
    monkeypatch.setenv("CHAOS_LOGS_DIR", str(tmp_path))
    with ChaosRun("updates sent while no supervisor runs") as run:
        sup = run.start(1)
        os.killpg(sup.pid, signal.SIGTERM)          # nobody polls any more: what follows stays at Telegram
        sup.wait(30)
        stream = run.stream(users=3, per_user=2, rate=50)
        stream.join(10)
        time.sleep(0.5)
        res = run.result(stream)
    assert res.lost == 6, res
    assert "the Bot API server still holds 6 update(s); getUpdates:" in " ".join(res.notes), res.notes
    assert any(note.startswith("supervisor 0: ") for note in res.notes), res.notes
    kept = list(tmp_path.glob("*-updates-sent-while-no-supervisor-runs/supervisor-0.log"))
    assert kept and "Worker" in kept[0].read_text(), kept        # the logs outlive the run's directory


def test_a_passing_run_with_losses_or_a_long_recovery_is_reported_as_a_warning():
    calm = Result("calm", updates=400, recovery_s=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calm.report_if_unusual()                     # nothing to say
    for unusual in (Result("lossy", updates=400, lost=3, recovery_s=2.0), Result("slow", updates=400, recovery_s=95.0)):
        with pytest.warns(UnusualChaosRun, match=unusual.scenario):
            unusual.report_if_unusual()
