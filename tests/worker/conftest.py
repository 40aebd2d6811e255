"""Worker fixtures: the runner's real-process cluster (the emulator fixture is in tests/conftest.py)."""
from __future__ import annotations

from tests.runner.conftest import cluster  # noqa: F401  (a pytest fixture)
