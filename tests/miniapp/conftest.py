"""Mini App test fixtures: the shared headless chromium (tests/browser.py)."""
from __future__ import annotations

from tests.browser import browser  # noqa: F401
