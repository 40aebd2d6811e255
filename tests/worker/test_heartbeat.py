"""The worker heartbeat file and the RSS reading the supervisor uses."""
from __future__ import annotations

import os

from botrunner.memory import rss_mb
from botrunner.worker.heartbeat import HeartbeatFile


def test_heartbeat_file_changes_ctime():
    hb = HeartbeatFile()
    try:
        before = hb.last_update()
        os.utime  # noqa: B018 (the file is unlinked: only fchmod can touch it)
        import time
        time.sleep(0.02)
        hb.notify()
        assert hb.last_update() > before
    finally:
        hb.close()
    assert rss_mb(os.getpid()) > 1 and rss_mb(2 ** 22 + 12345) == 0.0
