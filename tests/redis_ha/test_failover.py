"""kill -9 of the Redis master under Sentinel while `botrunner start` handles a stream of updates
(real supervisor, workers, local Bot API server; tests/redis_ha/failover.py). Nothing may be lost
or left pending, each chat stays in order, and duplicates stay within the documented failover
window (docs/reliability.md, Sentinel failover), both parts of it measured in the run:
- replies whose journal entry could not be written before the outage ended: at most one per update
  being handled at the fault, and a worker handles at most CHAT_RUNNERS at once;
- replies whose completion the master acknowledged but no replica had yet: only updates answered
  between shortly before a write every replica confirmed right before the fault and the fault
  (`in_lag_window`, see tests/redis_ha/failover.py)."""
from __future__ import annotations

import pytest

from tests.redis_ha.failover import kill_master_mid_stream, pause_master_mid_stream

pytestmark = pytest.mark.slow

WORKERS = 2
IN_FLIGHT = 16 * WORKERS        # CHAT_RUNNERS (16, tests/chaos/harness.py) chats at once, per worker


def _check(result) -> None:
    print(f"\n{result.scenario}: recovery {result.recovery_s:.1f} s, {'; '.join(result.notes)}, "
          f"duplicates {result.duplicates} (bound {IN_FLIGHT} + {result.in_lag_window} answered in the lag window)")
    assert result.pending_left == 0, result
    assert result.lost == 0, result
    assert result.order_violations == 0, result
    assert result.replicas_confirmed == result.replicas, f"replicas lagged past the probe's WAIT: {result}"
    assert result.duplicates <= IN_FLIGHT + result.in_lag_window, result
    assert result.updates == 400, result


@pytest.mark.timeout(300)
def test_killing_the_master_with_two_replicas_loses_nothing():
    """The guide's topology (a master and two replicas): the survivor replicates from the new master
    at once, so the replication waits (intake, leases) are met again without the old master."""
    _check(kill_master_mid_stream(replicas=2, workers=WORKERS))


@pytest.mark.timeout(300)
def test_killing_the_only_replicas_master_waits_for_it_to_come_back_and_loses_nothing():
    """One replica: after the promotion the new master has none, so nothing counts as stored until
    the old master is back (restarted 3 s after the kill, as systemd would) as its replica."""
    _check(kill_master_mid_stream(replicas=1, restart_after_s=3, workers=WORKERS))


@pytest.mark.timeout(300)
def test_a_master_paused_past_the_failover_loses_nothing_when_it_wakes():
    """SIGSTOP of the master for 5 s (a partition): promoted away from it meanwhile; when it wakes it
    briefly believes it is still the master until the Sentinels demote it."""
    _check(pause_master_mid_stream(5, replicas=2, workers=WORKERS))
