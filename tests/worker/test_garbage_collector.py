"""A worker settles the garbage collector after boot: what boot built is frozen (never traversed by a
collection again) and the young generation is collected less often (botrunner.worker.process)."""
from __future__ import annotations

import json

from botrunner.worker.process import GC_YOUNG_THRESHOLD
from tests.worker.booted import run_booted_worker


def test_after_boot_the_handlers_are_frozen_and_young_collections_are_rarer(tmp_path):
    done = run_booted_worker(tmp_path, before="before = gc.get_threshold()\n", after=(
        "tracked = any(o is w.router for o in gc.get_objects())\n"
        "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count(), tracked]))\n"))
    assert done.returncode == 0, done.stderr
    before, after, frozen, router_tracked = json.loads(done.stdout.splitlines()[-1])
    assert after == [GC_YOUNG_THRESHOLD, before[1], before[2]]
    assert frozen > 10_000 and not router_tracked       # the router (and the modules) moved to the frozen set
