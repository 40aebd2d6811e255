"""Sender fixtures: the runner's real-process fixtures (emulator, cluster) plus a sender on the session Redis."""
from __future__ import annotations

from tests.runner.conftest import cluster, emulator  # noqa: F401  (pytest fixtures)
