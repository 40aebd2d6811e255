"""Database round trips, counted per thread (one update is handled in one thread) and per process.

Backends call `add()` once per statement (SQLite) or collection call (MongoDB). The worker calls
`take()` after a handler returns to learn how many round trips that update cost; benchmarks read
`total` to report database load. `timed(operation)` counts one and also records it for Prometheus
(latency by backend and operation, errors when the call raises).
"""
from __future__ import annotations

import threading
from contextlib import AbstractContextManager

from botrunner.metrics import record


class RoundTrips:
    """Counter of database round trips: per thread since the last `take()`, and in total."""

    def __init__(self, backend: str = "") -> None:
        self.backend = backend or "unknown"
        self._local = threading.local()
        self._lock = threading.Lock()
        self.total = 0

    def add(self, n: int = 1) -> None:
        self._local.count = getattr(self._local, "count", 0) + n
        with self._lock:  # += on an int attribute is not atomic across threads
            self.total += n

    def timed(self, operation: str) -> AbstractContextManager:
        """`with round_trips.timed("query"): ...` around one round trip: counted, timed, errors noted."""
        self.add()
        return record.db_timer(self.backend, operation)

    def take(self) -> int:
        """Round trips made by this thread since its previous `take()`; resets the thread's count."""
        count = getattr(self._local, "count", 0)
        self._local.count = 0
        return count
