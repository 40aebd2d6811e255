"""`botrunner demo` end to end: real emulator and runner processes, simulated airdrop journeys."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from botrunner.tools.demo_journey import STEPS


@pytest.mark.slow
@pytest.mark.parametrize("run", ["first run", "second run in the same state directory"])
def test_demo_runs_every_journey(tmp_path_factory, run):
    tmp_path = tmp_path_factory.getbasetemp() / "demo-state"      # shared by both runs, on purpose
    done = subprocess.run([sys.executable, "-m", "botrunner", "demo", "--users", "12", "--workers", "2"],
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
    from botrunner.tools.demo_journey import button_data
    entry = {"message": {"reply_markup": {"inline_keyboard": [
        [{"text": "📋 Tasks", "callback_data": "m:tasks~sig"}], [{"text": "🔗 Open", "url": "https://x"}]]}}}
    assert button_data(entry, "Tasks") == "m:tasks~sig"
    assert button_data(entry, "Open") is None          # a URL button has no callback
    assert button_data({"message": {}}, "Tasks") is None and button_data(None, "Tasks") is None


@pytest.mark.slow
def test_ctrl_c_stops_everything_without_finishing_the_queue(tmp_path):
    import signal
    demo = subprocess.Popen([sys.executable, "-m", "botrunner", "demo", "--users", "5000", "--workers", "2"],
                            env={"PATH": "/usr/bin:/bin", "STATE_DIR": str(tmp_path)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # as a terminal's
    try:
        for line in demo.stdout:                      # wait until users are being driven
            if "users " in line and "/5000" in line and " 0/5000" not in line:
                break
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=90)         # 5000 journeys would take minutes
    finally:
        demo.kill()
    assert demo.returncode == 130
    assert "interrupted, stopping everything" in out
    assert not (tmp_path / "demo" / "redis" / "redis.sock").exists(), "the embedded Redis was stopped"
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes left running: {leftovers}"
