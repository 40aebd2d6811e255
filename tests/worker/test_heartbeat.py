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


def test_a_second_close_leaves_a_reused_descriptor_alone(tmp_path):
    """The supervisor forgets a worker once, but a close that runs twice (a test's teardown, a future
    caller) must not close the socket or file that got the freed descriptor number meanwhile: that
    surfaced as 'Bad file descriptor' in an unrelated HTTP client of the same process."""
    beat = HeartbeatFile()
    number = beat.fd
    beat.close()
    reused = os.open(tmp_path / "other", os.O_RDWR | os.O_CREAT)
    try:
        assert reused == number                      # the lowest free number comes back
        beat.close()
        os.fstat(reused)                             # still open
    finally:
        os.close(reused)
