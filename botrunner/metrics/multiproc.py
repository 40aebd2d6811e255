"""prometheus_client's multiprocess mode, the way prefork servers (gunicorn) run it.

Every process of one supervisor writes its metrics to mmap files named by its pid in one
directory (PROMETHEUS_MULTIPROC_DIR, default STATE_DIR/metrics). Any worker answering a scrape
reads all of them, so counters add up over the workers and over workers that died (their files
stay); the supervisor empties the directory when it starts (a new supervisor: counters restart
from zero, which Prometheus' rate() handles) and removes a reaped worker's live gauges.
`prepare()` must run before the first metric is built (see botrunner.metrics.definitions).
"""
from __future__ import annotations

import os
from pathlib import Path

from loguru import logger
from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from botrunner.config.settings import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"


def directory_for(settings: Settings) -> Path:
    """The multiprocess directory: PROMETHEUS_MULTIPROC_DIR if the operator set it, else STATE_DIR/metrics."""
    return Path(settings.prometheus_multiproc_dir or Path(settings.state_dir) / "metrics").resolve()


def prepare(settings: Settings) -> Path:
    """In the supervisor, before any worker exists: create and empty the directory, export it to children."""
    directory = directory_for(settings)
    directory.mkdir(parents=True, exist_ok=True)
    removed = 0
    for stale in directory.glob("*.db"):
        stale.unlink()
        removed += 1
    os.environ[ENV] = str(directory)
    # prometheus_client picks its value class at import; if something imported it before the
    # directory was known, switch it now (no metric exists yet: definitions are imported lazily)
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()
    logger.info("Metrics: multiprocess files in {} ({} stale file(s) removed)", directory, removed)
    return directory


def active() -> bool:
    """True in a process whose metrics go to the shared directory."""
    return bool(os.environ.get(ENV)) and bool(getattr(values.ValueClass, "_multiprocess", False))


def process_dead(pid: int) -> None:
    """In the supervisor, after reaping a worker: drop its live gauges (its counters stay in the sums)."""
    if active():
        mark_process_dead(pid)


def scrape_registry() -> CollectorRegistry:
    """A registry over every process's files (multiprocess mode), else this process's own metrics."""
    if not active():
        from prometheus_client import REGISTRY
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
