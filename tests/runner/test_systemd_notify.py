"""systemd integration: READY/STATUS/WATCHDOG/STOPPING from a real supervisor, and the health rule."""
from __future__ import annotations

import os
import signal
import socket
import time

import pytest
import redis

from botrunner.config.settings import load_settings
from botrunner.redis_keys import Keys
from botrunner.supervisor.arbiter import Supervisor
from tests.runner.conftest import TOKEN, wait_until


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def drain(sock: socket.socket, seen: list[str]) -> list[str]:
    try:
        while True:
            seen.extend(sock.recv(4096).decode().splitlines())
    except TimeoutError:
        return seen


@pytest.mark.slow
def test_supervisor_talks_to_systemd(cluster, notify_socket):
    supervisor = cluster.start(workers=1, NOTIFY_SOCKET=notify_socket.getsockname(), WATCHDOG_USEC="2000000")
    seen: list[str] = []
    wait_until(lambda: "READY=1" in drain(notify_socket, seen), 30, what="READY=1")
    wait_until(lambda: "WATCHDOG=1" in drain(notify_socket, seen), 30, what="WATCHDOG=1 while healthy")
    assert any(line.startswith("STATUS=1 worker(s)") for line in seen)
    os.kill(supervisor.pid, signal.SIGTERM)
    supervisor.wait(30)
    assert "STOPPING=1" in drain(notify_socket, seen)
    assert supervisor.returncode == 0


def test_watchdog_health_follows_the_last_successful_poll(tmp_path, redis_url):
    settings = load_settings(environ={"BOT_TOKEN": TOKEN, "REDIS_URL": redis_url, "STATE_DIR": str(tmp_path)},
                             env_file=None)
    supervisor = Supervisor(settings)
    supervisor.redis = redis.Redis.from_url(redis_url)
    last_poll = Keys.for_token(TOKEN).poll_last
    assert supervisor.pipeline_healthy(), "a supervisor that only just started is given a grace period"
    supervisor.started = time.time() - 3600
    assert not supervisor.pipeline_healthy(), "no poll ever recorded"
    supervisor.redis.set(last_poll, int((time.time() - 3000) * 1000))
    assert not supervisor.pipeline_healthy(), "the last poll is an hour old"
    supervisor.redis.set(last_poll, int(time.time() * 1000))
    assert supervisor.pipeline_healthy()
