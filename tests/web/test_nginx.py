"""Real nginx (Debian's) with the shipped config in front of two webhook "hosts" sharing one Redis.

The local Bot API server plays Telegram: it delivers over TLS through nginx, one chat in order,
retrying what fails. One supervisor is killed (kill -9) mid-run; its orphaned workers stop, nginx
moves their POSTs to the other host, and every update is still handled exactly once, in order.
"""
from __future__ import annotations

import os
import signal
import ssl
import time

import httpx
import pytest

from botrunner.emulator.client import ControlClient
from botrunner.tools.local_runs import start_emulator, stop
from tests.conftest import free_port
from tests.runner.conftest import TOKEN, burst, wait_until
from tests.web.nginx import Nginx, check, render, self_signed
from tests.web.processes import WebhookCluster, webhook_info

pytestmark = pytest.mark.slow


def test_shipped_config_passes_nginx_t(tmp_path):
    cert, key = self_signed(tmp_path)
    done = check(render(tmp_path, cert, key))
    assert done.returncode == 0, done.stderr


@pytest.fixture
def tls_emulator(tmp_path):
    """The local Bot API server as a process that trusts the test certificate (like Telegram trusts a real one)."""
    cert, key = self_signed(tmp_path)
    env = {**os.environ, "SSL_CERT_FILE": str(cert)}
    process, url = start_emulator(tmp_path / "emulator.log", env)
    try:
        with ControlClient(url) as control:
            yield url, control, cert, key
    finally:
        stop(process)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_two_hosts_behind_nginx_one_killed_mid_run(tmp_path, redis_url, tls_emulator):
    api_url, control, cert, key = tls_emulator
    ports, tls_port = [free_port(), free_port()], free_port()
    main = render(tmp_path, cert, key, upstreams=ports, tls_port=tls_port, http_port=free_port())
    public = f"https://127.0.0.1:{tls_port}/webhook"
    group = WebhookCluster(tmp_path, redis_url, api_url)
    with Nginx(main, tls_port) as nginx:
        try:
            extra = {"WEBHOOK_TRUSTED_NETWORKS": "127.0.0.1/32", "WEBHOOK_MAX_CONNECTIONS": "20"}
            one = group.start_webhook(public, workers=2, port=ports[0], **extra)
            time.sleep(1.1)                      # setWebhook allows one call per second
            group.start_webhook(public, workers=2, port=ports[1], **extra)
            assert webhook_info(api_url)["url"] == public
            refused = httpx.post(public, json={"update_id": 1}, verify=ssl.create_default_context(cafile=str(cert)),
                                 timeout=10)
            assert refused.status_code == 401    # no secret: nginx passes the refusal through, nothing stored

            users = range(9000, 9040)
            total = burst(control, users, per_user=3)
            wait_until(lambda: len(group.handled()) >= 30, 60, 0.1, what="traffic through nginx")
            orphans = group.worker_pids(one.pid)
            os.kill(one.pid, signal.SIGKILL)     # one "host" dies mid-run; its workers see it and stop
            one.wait(10)
            total += burst(control, users, per_user=3)
            wait_until(lambda: not any(_alive(pid) for pid in orphans), 40, 0.2, what="orphaned workers to stop")
            total += burst(control, users, per_user=2)

            wait_until(lambda: len(group.handled()) >= total, 120, 0.2, what=f"{total} handled updates")
            time.sleep(1.0)
            counts = group.handled()
            assert len(counts) == total and set(counts.values()) == {1}, "an update was lost or handled twice"
            for user in users:
                order = group.order(user)
                assert order == sorted(order), f"chat {user} handled out of order: {order}"
            served = {line.split()[1] for line in nginx.upstream_log() if line.startswith("200 ")}
            assert {f"127.0.0.1:{port}" for port in ports} <= served, "both hosts should have served POSTs"
            assert len(control.sent(TOKEN, 9000)) == 8
        finally:
            group.stop_all()
