"""Sentinel failover with everything on TLS: the Sentinels, the master and its replicas listen on
their tls-port only (port 0), replicate over TLS and require client certificates; botrunner reaches
them with REDIS_SENTINEL_TLS=true and the REDIS_TLS_* files. kill -9 of the master mid-stream (the
shorter variant of tests/redis_ha/test_failover.py): every update handled, each chat in order,
duplicates within the documented failover window, nothing left pending."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.redis_ha.failover import FAILOVER_WINDOW
from tests.redis_ha.tls_servers import TlsSentinelRun
from tests.runner.conftest import ROOT

pytestmark = pytest.mark.slow

WORKERS = 2
IN_FLIGHT = 16 * WORKERS        # CHAT_RUNNERS (16) chats at once, per worker (tests/redis_ha/test_failover.py)


@pytest.mark.timeout(300)
def test_killing_the_master_under_tls_sentinels_loses_nothing(tls_certs):
    with TlsSentinelRun("Sentinel failover over TLS: kill -9 of the master (2 replicas)", tls_certs, 2) as run:
        check = subprocess.run([sys.executable, "-m", "botrunner", "check"], env=run.env(), cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        redis_line = next(line for line in check.stdout.splitlines() if "] redis:" in line)
        assert redis_line.startswith("[  ok] redis: Redis master 'mymaster' of the Sentinels at"), redis_line
        assert f"{run.ha.addresses} over TLS answers" in redis_line and "2 replica(s) connected" in redis_line, \
            redis_line
        run.start(WORKERS)
        stream = run.stream()
        time.sleep(2.5)
        old = run.ha.master_address()
        run.probe_replication()
        run.mark_fault()
        run.ha.kill_master()
        new = run.ha.wait_failover(old, 60)
        run.settle(stream, 120)
        result = run.failover_result(stream, FAILOVER_WINDOW)
        status = subprocess.run([sys.executable, "-m", "botrunner", "status", "--json"], env=run.env(), cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr          # it asked the Sentinels over TLS for the new master
    print(f"\n{result.scenario}: recovery {result.recovery_s:.1f} s, new master {new}, duplicates "
          f"{result.duplicates} (bound {IN_FLIGHT} + {result.in_lag_window} answered in the lag window)")
    assert new != old
    assert result.updates == 400, result
    assert (result.lost, result.order_violations, result.pending_left) == (0, 0, 0), result
    assert result.replicas_confirmed == result.replicas, f"replicas lagged past the probe's WAIT: {result}"
    assert result.duplicates <= IN_FLIGHT + result.in_lag_window, result
