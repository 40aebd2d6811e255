"""The shipped unit files parse cleanly (`systemd-analyze verify`: no unknown keys, no bad values)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("unit, as_name", [("botrunner.service", "botrunner.service"),
                                           ("botrunner@.service", "botrunner@airdrop.service")])
def test_unit_verifies_without_warnings(tmp_path, unit, as_name):
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing (make test-deps installs the systemd package)")
        pytest.skip("systemd-analyze not installed (apt-get install systemd); CI fails instead")
    botrunner = Path(sys.executable).with_name("botrunner")     # ExecStart must name an executable
    text = (ROOT / "systemd" / unit).read_text().replace("/opt/botrunner/.venv/bin/botrunner", str(botrunner))
    (tmp_path / unit).write_text(text)
    if as_name != unit:
        (tmp_path / as_name).symlink_to(tmp_path / unit)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / as_name)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
