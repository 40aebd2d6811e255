"""docs/deployment.md, "Moving a running deployment from one Redis to Sentinel", run as written on
real processes: a bot handles a stream on one Redis (the embedded kind), is drained, updates keep
arriving at the Bot API server while it is stopped, its data is copied with `redis-cli --rdb` into
a new master (one start with appendonly off), replicas and Sentinels come up, and the bot starts
on REDIS_SENTINELS: every update answered exactly once, the offset and the generation carried
over (no data loss detected)."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

from botrunner import redis_clients
from botrunner.config.settings import load_settings
from tests.chaos.harness import KEYS, ChaosRun
from tests.redis_ha.servers import SentinelSet, binaries

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_drain_copy_switch_start_answers_every_update_once(tmp_path):
    server_bin, _ = binaries()
    redis_cli = os.path.join(os.path.dirname(server_bin), "redis-cli")
    with ChaosRun("move to Sentinel") as run:
        before = run.start(2)
        first = run.stream(users=20, per_user=5, rate=60)
        run.settle(first)
        os.killpg(before.pid, signal.SIGTERM)                          # drain
        before.wait(60)
        offset, generation = run.client.get(KEYS.poll_offset), run.client.get(KEYS.generation)
        while_stopped = run.stream(users=20, per_user=3, rate=60)       # Telegram keeps these meanwhile
        while_stopped.join(60)
        rdb = tmp_path / "botrunner.rdb"
        copied = subprocess.run([redis_cli, "-s", run.redis.socket, "--rdb", str(rdb)], capture_output=True, text=True)
        assert copied.returncode == 0, copied.stderr
        run.redis.stop()
        with SentinelSet(replicas=2, seed_rdb=rdb) as ha:              # switch
            run.client = redis_clients.sync_client(load_settings(environ=ha.env(), env_file=None), 0, timeout=5)
            assert run.client.get(KEYS.poll_offset) == offset and run.client.get(KEYS.generation) == generation
            after = run.start(2, REDIS_URL="", **ha.env())            # start (empty counts as unset)
            run.settle(while_stopped)
            for stream in (first, while_stopped):
                result = run.result(stream)
                assert (result.lost, result.duplicates, result.order_violations, result.pending_left) == (0, 0, 0, 0), \
                    result
            assert "REDIS DATA LOSS" not in run.log(after)
