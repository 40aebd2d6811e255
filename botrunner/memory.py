"""Process memory as the kernel reports it: used by the supervisor's recycling and the worker registry."""
from __future__ import annotations

import os


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB, from /proc (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
