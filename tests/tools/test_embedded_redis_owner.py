"""A supervisor killed with SIGKILL leaves no embedded redis-server behind (PR_SET_PDEATHSIG).

Before the fix the server kept running after `kill -9` of its supervisor (it runs in its own
session, so neither the process group nor systemd's KillMode=mixed reached it).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import redis

from tests.runner.conftest import ROOT, wait_until

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def server_pid(socket_path: str) -> int | None:
    try:
        return int(redis.Redis(unix_socket_path=socket_path, socket_timeout=1).info("server")["process_id"])
    except (redis.RedisError, OSError):
        return None


@pytest.fixture
def state_dir():
    directory = tempfile.mkdtemp(prefix="br-own-")     # short: the unix socket path has a 100-byte limit
    yield Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


def kill_leftover(pid: int | None) -> None:
    if pid and alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_owner_killed_with_sigkill_takes_the_server_along(state_dir):
    """The bare mechanism: any process that started an EmbeddedRedis, killed -9."""
    script = textwrap.dedent(f"""
        import time
        from botrunner.supervisor.embedded_redis import EmbeddedRedis
        EmbeddedRedis({str(state_dir / 'redis')!r}).start()
        print("ready", flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE)
    pid = None
    try:
        assert owner.stdout.readline().strip() == b"ready"
        pid = server_pid(str(state_dir / "redis" / "redis.sock"))
        assert pid and alive(pid)
        owner.kill()
        owner.wait(10)
        wait_until(lambda: not alive(pid), 20, 0.1, "the embedded redis-server to stop after its owner died")
    finally:
        owner.kill()
        kill_leftover(pid)


def test_kill9_of_the_supervisor_leaves_no_redis_server(state_dir):
    """The real thing: `botrunner start` on the embedded Redis, its workers, the local Bot API server."""
    from botrunner.emulator import running_emulator
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BOT_", "NOTIFY_SOCKET"))}
    socket_path = str(state_dir / "state" / "redis" / "redis.sock")
    env.update(TEST_RECORD_REDIS_URL=f"unix://{socket_path}",
               STATE_DIR=str(state_dir / "state"), BOTRUNNER_ENV_FILE="/nonexistent.env", PYTHONPATH=str(ROOT),
               BOT_HANDLERS="tests.runner.bot_app:router", LANES="4", DRAIN_TIMEOUT_S="3")
    pid = None
    with running_emulator(port=0) as emu:
        log = open(state_dir / "supervisor.log", "wb")
        sup = subprocess.Popen([sys.executable, "-m", "botrunner", "start", "--workers", "1", "--api-url", emu.url],
                               env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            pid = wait_until(lambda: server_pid(socket_path), 40, 0.2, "the embedded redis-server")
            client = redis.Redis(unix_socket_path=socket_path, socket_timeout=2)
            wait_until(lambda: client.zcard("botrunner:1000000:{workers}"), 40, 0.2, "a registered worker")
            os.kill(sup.pid, signal.SIGKILL)
            sup.wait(10)
            wait_until(lambda: not alive(pid), 20, 0.1, "the embedded redis-server to stop with its supervisor")
        finally:
            try:
                os.killpg(sup.pid, signal.SIGKILL)      # its workers, orphaned by the kill
            except ProcessLookupError:
                pass
            kill_leftover(pid)
            log.close()
            print((state_dir / "supervisor.log").read_text(errors="replace")[-3000:])   # shown on failure
