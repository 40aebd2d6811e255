"""The airdrop bot (handlers.app) end to end with every Redis client on a Redis Cluster: the pipeline,
the L2 user cache and its invalidation, sessions, action tokens, the handlers' own keys.

The scenarios are tests/handlers/test_end_to_end.py's, run here with the `stack` fixture on a cluster."""
from __future__ import annotations

import pytest
import redis

from botrunner.bot.states import RedisStates
from tests.cluster.conftest import ClusterRun
from tests.handlers.test_end_to_end import (  # noqa: F401  (collected here, on a cluster)
    ADMIN,
    test_captcha_failure_locks_the_user_out,
    test_referral_chain_captcha_and_admin_refusal,
    test_transfer_double_confirm_pays_once,
)
from tests.runner.conftest import KEYS

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path, redis_cluster, redis_url, emulator):
    emu, control = emulator
    run = ClusterRun(tmp_path, redis_cluster, redis_url, emu.url)
    sessions_client = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        run.start(workers=2, BOT_HANDLERS="handlers.app:router", ADMIN_USER_IDS=str(ADMIN),
                  ENABLE_REFERRAL_BATCHING="true", REFERRAL_BATCH_INTERVAL_MS="50")
        yield control, RedisStates(sessions_client, prefix=KEYS.prefix), run
    finally:
        run.stop_all()
        run.client.close()
        run.record.close()
        sessions_client.close()
