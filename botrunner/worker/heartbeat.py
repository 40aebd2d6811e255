"""Worker liveness on one host: an unlinked temp file made by the supervisor before fork.

The worker stamps the file's mtime with `time.monotonic()` every second and the supervisor compares
it with its own `time.monotonic()`, with no IPC (gunicorn's WorkerTmp). The monotonic clock is
shared by every process on the host and never steps, so an NTP step or a manual `date -s` never
kills a healthy worker. A worker whose event loop hangs stops stamping and is killed.
The cluster-wide mirror of liveness in Redis is `botrunner.lanes.membership.Registry`.
The file's first byte tells the supervisor that the worker has joined the lane assignment (a SIGHUP
roll retires an old worker only then, so no lane is handed to the old ones and moved again).
"""
from __future__ import annotations

import os
import tempfile
import time


class HeartbeatFile:
    """A heartbeat the parent can read without IPC: the mtime of an unlinked file, in monotonic seconds."""

    def __init__(self) -> None:
        fd, name = tempfile.mkstemp(prefix="botrunner-hb-")
        os.unlink(name)
        self.fd = fd
        self.notify()          # a fresh file carries the wall-clock time: replace it with a monotonic one

    def notify(self) -> None:
        """Called by the worker: stamps the file with the monotonic time."""
        now = time.monotonic()
        os.utime(self.fd, (now, now))

    def mark_joined(self) -> None:
        """Called by the worker once it joined the registry (writing moves the mtime: stamp it again)."""
        os.pwrite(self.fd, b"j", 0)
        self.notify()

    def joined(self) -> bool:
        """Called by the supervisor: has the worker joined the lane assignment?"""
        return os.pread(self.fd, 1, 0) == b"j"

    def last_update(self) -> float:
        """Called by the supervisor: monotonic time of the last notify()."""
        return os.fstat(self.fd).st_mtime

    def close(self) -> None:
        """Idempotent: a second close must not close whatever file or socket reused the number."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
