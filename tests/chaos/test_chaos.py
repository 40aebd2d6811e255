"""The chaos suite: every scenario on real processes, each held to its documented window.

Bounds: no window means exactly once and in order. A crash window allows the replies that were in
flight (at most the worker's concurrent chats, CHAT_RUNNERS) to go twice; a data-loss window
allows losing what was stored but unread and re-handling one getUpdates batch (100). Every scenario
must end with nothing pending in any lane and every later update answered (lost counts them).
"""
from __future__ import annotations

import os
import time

import pytest

from botrunner.tools.status import snapshot
from tests.chaos.harness import faketime_library
from tests.chaos.scenarios import SCENARIOS

IN_FLIGHT = 16        # CHAT_RUNNERS (16, tests/chaos/harness.py): chats handled at once per worker
BATCH = 100           # one getUpdates batch

# scenario -> (lost, duplicates, order violations) allowed
BOUNDS = {
    "redis_sigstop_4s": (0, 0, 0),
    "redis_sigstop_8s": (0, 0, 0),
    "redis_sigstop_12s": (0, 0, 0),
    "redis_flushall": (BATCH, BATCH, BATCH),
    "redis_restart_without_aof": (BATCH, BATCH, BATCH),
    "kill_worker": (0, IN_FLIGHT, 0),
    "kill_poller": (0, IN_FLIGHT, 0),
    "sigstop_worker": (0, IN_FLIGHT, 0),
    "sigstop_worker_3x": (0, IN_FLIGHT, 0),
    "rebalance_storm": (0, IN_FLIGHT, 0),
    "second_supervisor": (0, 0, 0),
    "hanging_handler": (0, 0, 0),
    "clock_steps": (0, 0, 0),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name):
    if name == "clock_steps" and faketime_library() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("libfaketime is missing: `make test-deps` installs Debian's faketime")
        pytest.skip("libfaketime is not installed here (apt-get install -y faketime); CI installs it")
    result = SCENARIOS[name]()
    print(result)          # the whole row, notes included (an assertion message is cut short)
    result.report_if_unusual()
    lost, duplicates, order = BOUNDS[name]
    assert result.pending_left == 0, f"{result.pending_left} entries left pending in the lanes: {result}"
    assert result.lost <= lost, result
    assert result.duplicates <= duplicates, result
    assert result.order_violations <= order, result
    if name.startswith("redis_sigstop") or name == "clock_steps":
        assert "workers SIGABRTed: 0" in result.notes, result      # the heartbeat: no Redis, no wall clock
    if name in ("redis_flushall", "redis_restart_without_aof"):
        assert "data losses in status: 1" in result.notes, result
    if name == "hanging_handler":
        assert result.dead_lettered == 3, result


@pytest.mark.timeout(180)
def test_a_worker_whose_threads_all_hung_is_replaced_and_its_chats_go_on():
    """HANDLER_THREADS=1: one hung handler exhausts the pool; the worker exits 5, the supervisor replaces it."""
    from tests.chaos.harness import KEYS, TOKEN, ChaosRun

    with ChaosRun("pool exhausted") as run:
        sup = run.start(1, HANDLER_THREADS="1", HANDLER_TIMEOUT_S="1")
        first = run.worker_pids(sup.pid)
        run.control.inject_command(TOKEN, 6001, "hang")
        run.wait_until(lambda: "replacing it" in run.log(sup), 60, "the exhausted worker to be replaced")
        run.wait_until(lambda: set(run.worker_pids(sup.pid)) - set(first), 60, "a fresh worker")
        answer = run.control.inject_command(TOKEN, 6001, "start")
        run.wait_until(lambda: any(e.get("text") == str(answer["update_id"]) for e in run.control.sent(TOKEN, 6001)),
                       60, "the chat answered by the fresh worker")
        assert "hung handlers (HANDLER_TIMEOUT_S) took all its threads" in run.log(sup)
        assert run.client.xlen(KEYS.dead) == 1


@pytest.mark.timeout(240)
def test_updates_read_before_redis_restarts_without_its_data_are_still_answered():
    """Redis restarted without AOF while every update is already read (queued or in a handler, its
    batch confirmed to Telegram): the workers' memory holds the only copy, and each is answered once."""
    from tests.chaos.harness import KEYS, TOKEN, ChaosRun

    with ChaosRun("restart with every update in memory", appendonly=False) as run:
        run.start(2, SLOW_S="5")
        users = range(7001, 7041)
        ids = [r["update_id"] for r in run.control.inject_batch(
            TOKEN, [{"kind": "command", "user_id": u, "command": "slow"} for _ in range(2) for u in users])]
        run.wait_until(lambda: run.control.state(TOKEN)["pending_updates"] == 0, 60, "the batches confirmed")
        run.wait_until(lambda: all(undelivered == 0 for _, _, undelivered, _ in snapshot(run.client, KEYS, 16).lanes),
                       60, "every update read by a worker")
        run.mark_fault()
        run.redis.kill()
        run.redis.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _all_answered(run, users, ids):
            time.sleep(0.5)
        replies = run.replies(set(users))
        answered = sorted(uid for rows in replies.values() for uid, _ in rows)
        assert not set(ids) - set(answered), f"{len(set(ids) - set(answered))} of {len(ids)} never answered"
        assert answered == sorted(ids), "answered more than once"
        for rows in replies.values():
            assert [uid for uid, _ in rows] == sorted(uid for uid, _ in rows)           # in order per chat


def _all_answered(run, users, ids) -> bool:
    return {uid for rows in run.replies(set(users)).values() for uid, _ in rows} >= set(ids)
