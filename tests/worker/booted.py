"""A worker booted (`Worker.init_process`) in a fresh Python process: tests of what boot does to a process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_booted_worker(state_dir: Path, after: str, before: str = "") -> subprocess.CompletedProcess[str]:
    """Python code `before` the boot and `after` it (the worker is `w`), run in a new interpreter."""
    code = ("import gc, json, os, signal\n"
            "from botrunner.config.settings import load_settings\n"
            "from botrunner.worker.heartbeat import HeartbeatFile\n"
            "from botrunner.worker.process import Worker\n"
            f"s = load_settings(environ={{'STATE_DIR': {str(state_dir)!r}, "
            "'BOT_HANDLERS': 'tests.runner.bot_app:router'}, env_file=None)\n"
            "w = Worker(s, HeartbeatFile(), 1)\n"
            f"{before}"
            "w.init_process()\n"
            f"{after}")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
