"""Sender fixtures: the runner's real-process fixtures (emulator, cluster) plus a sender on the session Redis."""
from __future__ import annotations

from tests.runner.conftest import cluster  # noqa: F401  (a pytest fixture; `emulator` is in tests/conftest.py)
