"""A real worker reads no more than max(HANDLER_THREADS * 16, CHAT_RUNNERS) entries ahead of its handlers,
however many wait in its lanes (the rest stay in Redis, where another worker can get them)."""
from __future__ import annotations

import time

import pytest

from botrunner.redis_keys import GROUP
from tests.runner.conftest import KEYS, burst

pytestmark = pytest.mark.slow


def pending_now(cluster) -> int:
    """Entries read but not yet acknowledged in all lanes at one instant: one MULTI (a sum of 16 separate
    reads counts an entry acknowledged in one lane and another read meanwhile in the next both)."""
    transaction = cluster.client.pipeline(transaction=True)
    for n in range(16):
        transaction.xpending(KEYS.lane(n), GROUP)
    return sum(lane["pending"] for lane in transaction.execute())


def most_pending_until_handled(cluster, total: int) -> int:
    """The most entries read but not yet acknowledged (the worker's buffer) until `total` are handled."""
    peak, deadline = 0, time.monotonic() + 90
    while len(cluster.handled()) < total:
        peak = max(peak, pending_now(cluster))
        assert time.monotonic() < deadline, f"only {len(cluster.handled())} of {total} handled"
        time.sleep(0.02)
    return peak


def test_a_worker_buffers_at_most_handler_threads_times_16(cluster, emulator):
    _, control = emulator
    cluster.start(workers=1, HANDLER_THREADS="1", CHAT_RUNNERS="2", SLOW_S="0.05", SEND_LIMITS="false")
    total = burst(control, range(100, 180), per_user=1, command="slow")     # 80 chats, one handler thread
    peak = most_pending_until_handled(cluster, total)
    assert peak <= 1 * 16                 # read but not yet acknowledged: the buffer
    assert peak >= 8, f"the buffer was never used ({peak}): the test proved nothing"


def test_chat_runners_set_how_many_chats_a_worker_holds_at_once(cluster, emulator):
    """CHAT_RUNNERS above HANDLER_THREADS * 16 raises the buffer with it: 40 chats in flight at once,
    while one handler thread runs them one by one (the rest wait in the handler queue, not in Redis)."""
    _, control = emulator
    cluster.start(workers=1, HANDLER_THREADS="1", CHAT_RUNNERS="40", SLOW_S="0.02", SEND_LIMITS="false")
    total = burst(control, range(200, 300), per_user=1, command="slow")     # 100 chats
    peak = most_pending_until_handled(cluster, total)
    assert 16 < peak <= 40, peak
