"""A worker settles the garbage collector after boot: what boot built is frozen (never traversed by a
collection again) and the young generation is collected less often (botrunner.worker.process)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from botrunner.worker.process import GC_YOUNG_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]


def test_after_boot_the_handlers_are_frozen_and_young_collections_are_rarer(tmp_path):
    code = ("import gc, json\n"
            "from botrunner.config.settings import load_settings\n"
            "from botrunner.worker.heartbeat import HeartbeatFile\n"
            "from botrunner.worker.process import Worker\n"
            f"s = load_settings(environ={{'STATE_DIR': {str(tmp_path)!r}, "
            "'BOT_HANDLERS': 'tests.runner.bot_app:router'}, env_file=None)\n"
            "w = Worker(s, HeartbeatFile(), 1)\n"
            "before = gc.get_threshold()\n"
            "w.init_process()\n"
            "tracked = any(o is w.router for o in gc.get_objects())\n"
            "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count(), tracked]))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, after, frozen, router_tracked = json.loads(done.stdout.splitlines()[-1])
    assert after == [GC_YOUNG_THRESHOLD, before[1], before[2]]
    assert frozen > 10_000 and not router_tracked       # the router (and the modules) moved to the frozen set
