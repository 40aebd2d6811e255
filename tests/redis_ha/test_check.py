"""`botrunner check` with Sentinels: it names the master the Sentinels chose and its replicas, and
fails when fewer replicas are connected than the replication waits need."""
from __future__ import annotations

import pytest

from botrunner.errors import OperatorError
from botrunner.tools.preflight import check_redis
from tests.redis_ha.conftest import sentinel_settings


def test_check_names_the_master_and_its_replicas(sentinels, tmp_path):
    line = check_redis(sentinel_settings(sentinels, tmp_path))
    host, port = sentinels.master_address()
    assert f"master {host}:{port}, 1 replica(s) connected, waits need 1" in line
    assert "run 2" in line and "Sentinels at" in line


def test_check_fails_without_the_replicas_the_waits_need(fresh_sentinels, tmp_path):
    ha = fresh_sentinels
    settings = sentinel_settings(ha, tmp_path)
    ha.servers[1].kill()
    ha.wait_until(lambda: ha.server_client(ha.master).info("replication")["connected_slaves"] == 0, 30,
                  "the master to see its replica gone")
    with pytest.raises(OperatorError, match="0 replica\\(s\\) connected, but INTAKE_WAIT_REPLICAS"):
        check_redis(settings)
    relaxed = sentinel_settings(ha, tmp_path, INTAKE_WAIT_REPLICAS="0", LEASE_WAIT_REPLICAS="0")
    assert "0 replica(s) connected, waits need 0" in check_redis(relaxed)
