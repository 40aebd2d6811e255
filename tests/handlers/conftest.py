"""Fixtures for handler tests: the bot's router on a real SQLite store and the session Redis."""
from __future__ import annotations

import pytest

from botrunner.config.settings import load_settings
from handlers.app import build_runtime, router
from storage.factory import open_worker_storage, redis_client
from tests.handlers.harness import ADMIN, Bot, FakeApi

BASE_ENV = {"ADMIN_USER_IDS": str(ADMIN), "BOT_TOKEN": "123456:handler-test", "REQUIRED_CHANNEL_ID": "@news",
            "MIN_WITHDRAW_POINTS": "100", "TRANSFER_MIN_POINTS": "10", "TRANSFER_MAX_POINTS": "500",
            "TRANSFER_MAX_DAILY_POINTS": "300", "TRANSFER_DAILY_LIMIT": "2", "TRANSFER_FEE_PERCENTAGE": "10",
            "RATE_LIMIT_COMMANDS_PER_MIN": "1000", "RATE_LIMIT_SENSITIVE_PER_HOUR": "1000",
            "USER_CACHE_SIZE": "0", "ENABLE_REFERRAL_BATCHING": "false"}


@pytest.fixture
def make_bot(tmp_path, redis_url):
    """make_bot(**env) -> Bot with those settings on top of BASE_ENV."""
    opened = []

    def make(**env: str) -> Bot:
        environ = {**BASE_ENV, "STATE_DIR": str(tmp_path / "state"), "REDIS_URL": redis_url, **env}
        settings = load_settings(environ=environ, env_file=None)
        storage = open_worker_storage(settings)
        opened.append(storage)
        from handlers.task_catalog import sync_default_tasks
        sync_default_tasks(storage.store, settings)          # as the worker's start hook does
        rt = build_runtime(settings, storage, redis_client(settings, settings.redis_session_db))
        rt.api.close()
        rt.api = FakeApi()
        return Bot(router, rt)
    yield make
    for storage in opened:
        storage.close()


@pytest.fixture
def bot(make_bot) -> Bot:
    return make_bot()
