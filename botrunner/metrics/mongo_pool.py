"""MongoDB connection pool usage for the guide's mongodb_pool_exhaustion alert, from PyMongo's pool events.

PyMongo calls a ConnectionPoolListener on every checkout and check-in; the listener keeps the
worker's in-use gauge (one series per worker pid) next to the pool's maxPoolSize, so an alert can
compare the two. Passed to MongoClient(event_listeners=...) when the worker builds its client.
"""
from __future__ import annotations

from typing import Any

from pymongo import monitoring

from botrunner.metrics import record


class PoolMetrics(monitoring.ConnectionPoolListener):
    """Connections checked out of this worker's MongoDB pools (every server of a replica set counts)."""

    def __init__(self, max_pool_size: int) -> None:
        record.db_pool(max_size=max_pool_size)

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        record.db_pool(+1)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        record.db_pool(-1)

    # the rest of the interface: nothing to count
    def pool_created(self, event: Any) -> None: pass
    def pool_ready(self, event: Any) -> None: pass
    def pool_cleared(self, event: Any) -> None: pass
    def pool_closed(self, event: Any) -> None: pass
    def connection_created(self, event: Any) -> None: pass
    def connection_ready(self, event: Any) -> None: pass
    def connection_closed(self, event: Any) -> None: pass
    def connection_check_out_started(self, event: Any) -> None: pass
    def connection_check_out_failed(self, event: Any) -> None: pass
