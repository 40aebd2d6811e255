"""Refusing a Redis that may evict pipeline keys, and SQLite split across hosts (real Redis)."""
from __future__ import annotations

import time

import pytest

from botrunner.config.settings import load_settings
from botrunner.errors import UnsafePipeline
from botrunner.redis_keys import Keys
from botrunner.supervisor.pipeline_guard import eviction_risk, guard_pipeline
from botrunner.tools.preflight import run_checks

TOKEN = "515151:guard-token"
KEYS = Keys.for_token(TOKEN)


@pytest.fixture
def evicting(redis_client):
    """The session Redis with the guide's `maxmemory 1gb` / `allkeys-lru`, restored afterwards."""
    before = redis_client.config_get("maxmemory*")
    redis_client.config_set("maxmemory", str(1024 ** 3))
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    yield redis_client
    redis_client.config_set("maxmemory", before["maxmemory"])
    redis_client.config_set("maxmemory-policy", before["maxmemory-policy"])


def settings_for(redis_url, tmp_path, **env):
    return load_settings(environ={"REDIS_URL": redis_url, "BOT_TOKEN": TOKEN, "STATE_DIR": str(tmp_path), **env},
                         env_file=None)


def test_noeviction_or_no_maxmemory_is_safe(redis_client):
    assert eviction_risk(redis_client) is None
    redis_client.config_set("maxmemory-policy", "allkeys-lru")        # no maxmemory: nothing is evicted
    try:
        assert eviction_risk(redis_client) is None
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")


def test_evicting_redis_is_refused_unless_accepted(evicting, redis_url, tmp_path):
    with pytest.raises(UnsafePipeline) as refused:
        guard_pipeline(settings_for(redis_url, tmp_path), evicting, KEYS)
    assert "allkeys-lru" in str(refused.value) and "noeviction" in str(refused.value)
    assert "REDIS_ALLOW_EVICTION=true" in str(refused.value) and refused.value.exit_status == 2
    accepted = guard_pipeline(settings_for(redis_url, tmp_path, REDIS_ALLOW_EVICTION="true"), evicting, KEYS)
    assert len(accepted) == 1 and "started anyway" in accepted[0]


def test_volatile_policies_are_refused_too(redis_client, evicting):
    evicting.config_set("maxmemory-policy", "volatile-ttl")
    assert "keys with a TTL" in eviction_risk(evicting)


def test_check_fails_on_an_evicting_redis(evicting, redis_url, tmp_path):
    result = {r.name: r for r in run_checks(settings_for(redis_url, tmp_path))}["redis"]
    assert not result.ok and "maxmemory-policy allkeys-lru" in result.detail


def register_worker(client, host: str) -> None:
    client.zadd(KEYS.workers, {f"{host}-1": int(time.time() * 1000)})
    client.hset(KEYS.worker(f"{host}-1"), mapping={"host": host, "pid": 1})


def test_sqlite_with_workers_on_another_host_is_refused(redis_client, redis_url, tmp_path):
    register_worker(redis_client, "vm-2")
    with pytest.raises(UnsafePipeline) as refused:
        guard_pipeline(settings_for(redis_url, tmp_path), redis_client, KEYS, this_host="vm-1")
    assert "vm-2" in str(refused.value) and "MONGODB_URL" in str(refused.value)
    assert guard_pipeline(settings_for(redis_url, tmp_path), redis_client, KEYS, this_host="vm-2") == []
    mongo = settings_for(redis_url, tmp_path, MONGODB_URL="mongodb://10.0.0.6:27017/botrunner")
    assert guard_pipeline(mongo, redis_client, KEYS, this_host="vm-1") == []


def test_stale_workers_of_another_host_do_not_count(redis_client, redis_url, tmp_path):
    redis_client.zadd(KEYS.workers, {"vm-2-1": int(time.time() * 1000) - 3_600_000})
    redis_client.hset(KEYS.worker("vm-2-1"), mapping={"host": "vm-2"})
    assert guard_pipeline(settings_for(redis_url, tmp_path), redis_client, KEYS, this_host="vm-1") == []


def test_supervisor_refuses_to_start_on_an_evicting_redis(evicting, redis_url, tmp_path):
    """`botrunner start` stops with one line and exit 2 (systemd does not restart it) before forking."""
    import subprocess
    import sys
    env = {"REDIS_URL": redis_url, "BOT_TOKEN": TOKEN, "STATE_DIR": str(tmp_path), "BOTRUNNER_ENV_FILE": "/none",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "botrunner", "start", "--api-url", "http://127.0.0.1:9"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("botrunner start: Redis at ")
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_running_supervisor_on_sqlite_halts_when_another_host_joins(tmp_path, redis_url):
    """Two VMs started at the same moment both pass the start check; the periodic re-check stops them."""
    from botrunner.emulator import running_emulator
    from tests.runner.conftest import KEYS as RUNNER_KEYS
    from tests.runner.conftest import Cluster
    with running_emulator(port=0) as emu:
        cluster = Cluster(tmp_path, redis_url, emu.url)
        try:
            supervisor = cluster.start(workers=1)
            cluster.client.hset(RUNNER_KEYS.worker("vm-other-1"), mapping={"host": "vm-other", "pid": 1})
            deadline = time.monotonic() + 120
            while supervisor.poll() is None and time.monotonic() < deadline:   # a live worker beats
                cluster.client.zadd(RUNNER_KEYS.workers, {"vm-other-1": int(time.time() * 1000)})
                time.sleep(0.5)
            assert supervisor.wait(10) == 2
            assert "Halting: workers of this bot run on vm-other" in cluster.log(supervisor)
        finally:
            cluster.stop_all()
            cluster.client.close()
