"""Fixtures for the emulator tests: one in-process server per session, a fresh bot token per test."""
from __future__ import annotations

import itertools

import httpx
import pytest

from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient

_tokens = itertools.count(1)


@pytest.fixture(scope="session")
def emulator():
    """A server shared by the session; tests stay isolated by using their own token."""
    with running_emulator(webhook_retry_base=0.05, webhook_retry_max=0.2, webhook_timeout=2.0) as running:
        yield running


@pytest.fixture
def control(emulator):
    with ControlClient(emulator.url) as client:
        yield client


@pytest.fixture
def token() -> str:
    n = next(_tokens)
    return f"{700000 + n}:TEST-token_{n}"


@pytest.fixture
def api(emulator, token):
    """Plain HTTP to /bot<token>/ (no Bot API library in between)."""
    with httpx.Client(base_url=f"{emulator.url}/bot{token}/", timeout=30) as client:
        yield client


@pytest.fixture
def user(control, token) -> int:
    """A user who has written to the bot (so sends to their chat are allowed)."""
    control.inject_message(token, 5001, "hello")
    return 5001
