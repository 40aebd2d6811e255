"""`botrunner demo` end to end: real emulator and runner processes, simulated users, a summary."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_every_conversation(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cli", "demo", "--users", "12", "--workers", "2"],
                          env={"PATH": "/usr/bin:/bin", "STATE_DIR": str(tmp_path), "LOG_LEVEL": "info"},
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replies received            36 of 36" in done.stdout
    assert "users with a missing reply  0" in done.stdout
    runner_log = (tmp_path / "demo" / "runner.log").read_text()
    assert "Took the poll lease" in runner_log and "Supervisor" in runner_log and "stopped" in runner_log
