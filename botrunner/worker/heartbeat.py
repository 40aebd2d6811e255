"""Worker liveness on one host: an unlinked temp file made by the supervisor before fork.

The worker flips its mode every second and the supervisor reads its ctime, with no IPC
(gunicorn's WorkerTmp). A worker whose event loop hangs stops flipping and is killed.
The cluster-wide mirror of liveness in Redis is `botrunner.lanes.membership.Registry`.
"""
from __future__ import annotations

import os
import tempfile


class HeartbeatFile:
    """A heartbeat the parent can read without IPC: the ctime of an unlinked file."""

    def __init__(self) -> None:
        fd, name = tempfile.mkstemp(prefix="botrunner-hb-")
        os.unlink(name)
        self.fd = fd
        self._spin = 0

    def notify(self) -> None:
        """Called by the worker: changes the file's ctime."""
        self._spin ^= 1
        os.fchmod(self.fd, self._spin)

    def last_update(self) -> float:
        """Called by the supervisor: wall-clock time of the last notify()."""
        return os.fstat(self.fd).st_ctime

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
