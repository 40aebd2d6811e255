"""`botrunner demo` end to end: real emulator and runner processes, simulated airdrop journeys."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from botrunner.demo_journey import STEPS


@pytest.mark.slow
def test_demo_runs_every_journey(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cli", "demo", "--users", "12", "--workers", "2"],
                          env={"PATH": "/usr/bin:/bin", "STATE_DIR": str(tmp_path), "LOG_LEVEL": "info"},
                          capture_output=True, text=True, timeout=240)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "journeys completed         12 of 12 (failed: none)" in out
    # one user joins on its own, the other 11 through its link: every bonus is in the database
    assert "referral bonuses credited  11 (expected 11)" in out
    assert f"success                    {12 * len(STEPS)} of {12 * len(STEPS)} (100.0 %)" in out
    for step, _, _ in STEPS:
        assert re.search(rf"step {step}\s+p50 [\d.]+ / p99 [\d.]+ ms \(12 replies\)", out), step
    runner_log = (tmp_path / "demo" / "runner.log").read_text()
    assert "Took the poll lease" in runner_log and "Supervisor" in runner_log and "stopped" in runner_log


def test_journey_finds_buttons_by_label():
    from botrunner.demo_journey import button_data
    entry = {"message": {"reply_markup": {"inline_keyboard": [
        [{"text": "📋 Tasks", "callback_data": "m:tasks~sig"}], [{"text": "🔗 Open", "url": "https://x"}]]}}}
    assert button_data(entry, "Tasks") == "m:tasks~sig"
    assert button_data(entry, "Open") is None          # a URL button has no callback
    assert button_data({"message": {}}, "Tasks") is None and button_data(None, "Tasks") is None
