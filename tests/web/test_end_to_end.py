"""Webhook mode end to end: `botrunner start` registers the webhook with the local Bot API server,
which delivers with the secret header; replies come back; 5xx while Redis is down is retried."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import redis

from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient
from botrunner.supervisor.embedded_redis import EmbeddedRedis
from tests.runner.conftest import ROOT, TOKEN, burst, wait_until
from tests.web.processes import SECRET, WebhookCluster, webhook_info

pytestmark = pytest.mark.slow


@pytest.fixture
def emulator():
    with running_emulator(port=0, webhook_retry_base=0.2, webhook_retry_max=2.0) as emu:
        with ControlClient(emu.url) as control:
            yield emu, control


@pytest.fixture
def cluster(tmp_path, redis_url, emulator):
    group = WebhookCluster(tmp_path, redis_url, emulator[0].url)
    try:
        yield group
    finally:
        group.stop_all()
        group.client.close()


def assert_once_in_order(cluster, users, total: int) -> None:
    wait_until(lambda: len(cluster.handled()) >= total, 90, 0.2, what=f"{total} handled updates")
    time.sleep(0.5)                                     # let a duplicate show itself
    assert len(cluster.handled()) == total and set(cluster.handled().values()) == {1}
    for user in users:
        order = cluster.order(user)
        assert order == sorted(order), f"chat {user} handled out of order: {order}"


def test_start_sets_the_webhook_and_updates_flow_in_order(cluster, emulator):
    emu, control = emulator
    sup = cluster.start_webhook(workers=2, WEBHOOK_MAX_CONNECTIONS="8")
    info = webhook_info(emu.url)
    assert info["url"] == f"http://127.0.0.1:{cluster.ports[sup.pid]}/webhook" and info["max_connections"] == 8
    total = burst(control, range(7000, 7030), per_user=5)
    assert_once_in_order(cluster, range(7000, 7030), total)
    assert len(control.sent(TOKEN, 7000)) == 5           # the replies reached the Bot API server
    assert control.poll_stats(TOKEN)["total_calls"] == 0  # no getUpdates in webhook mode
    wait_until(lambda: webhook_info(emu.url)["pending_update_count"] == 0, 20, what="an empty queue")
    assert "Webhook mode: webhook set to" in cluster.log(sup)


def test_503_while_redis_is_down_is_retried_until_stored(tmp_path, emulator):
    emu, control = emulator
    server = EmbeddedRedis(tmp_path / "redis").start()
    group = WebhookCluster(tmp_path, server.url, emu.url)
    try:
        group.start_webhook(workers=2, WEBHOOK_RESPONSE_TIMEOUT_MS="1000")
        first = burst(control, range(8000, 8010), per_user=2)
        assert_once_in_order(group, range(8000, 8010), first)
        server.stop()
        second = burst(control, range(8000, 8010), per_user=2)
        wait_until(lambda: "503" in (webhook_info(emu.url).get("last_error_message") or ""), 30,
                   what="a 503 reported by getWebhookInfo")
        server.start()
        group.client = redis.Redis.from_url(server.url)
        assert_once_in_order(group, range(8000, 8010), first + second)
    finally:
        group.stop_all()
        server.stop()


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BOT_", "USE_", "WEBHOOK_",
                                                                       "TELEGRAM_"))}
    return subprocess.run([sys.executable, "-m", "botrunner", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**clean, "BOTRUNNER_ENV_FILE": "/nonexistent.env", **env}, timeout=60)


def test_start_refuses_webhook_mode_without_a_secret_and_says_how_to_make_one(tmp_path):
    done = _cli("start", USE_WEBHOOK="true", WEBHOOK_URL="https://bot.example.org/webhook", BOT_TOKEN=TOKEN,
                STATE_DIR=str(tmp_path))
    assert done.returncode == 2
    line, = done.stderr.strip().splitlines()
    assert "TELEGRAM_WEBHOOK_SECRET" in line and "secrets.token_urlsafe(32)" in line


def test_start_refuses_plain_http_for_api_telegram_org(tmp_path):
    done = _cli("start", USE_WEBHOOK="true", WEBHOOK_URL="http://bot.example.org/webhook", BOT_TOKEN=TOKEN,
                TELEGRAM_WEBHOOK_SECRET=SECRET, STATE_DIR=str(tmp_path))
    assert done.returncode == 2 and "must start with https://" in done.stderr and SECRET not in done.stderr


def test_webhook_commands_set_info_delete_keep_pending_updates(emulator, tmp_path, redis_url):
    emu, control = emulator
    env = {"BOT_TOKEN": TOKEN, "REDIS_URL": redis_url, "TELEGRAM_WEBHOOK_SECRET": SECRET,
           "WEBHOOK_URL": "http://127.0.0.1:9/webhook", "WEBHOOK_MAX_CONNECTIONS": "3", "STATE_DIR": str(tmp_path)}
    done = _cli("webhook", "set", "--api-url", emu.url, **env)
    assert done.returncode == 0, done.stderr
    control.inject_message(TOKEN, 9100, "while nobody listens")
    wait_until(lambda: webhook_info(emu.url).get("last_error_message"), 20, what="a failed delivery")
    info = _cli("webhook", "info", "--api-url", emu.url, **env)
    assert "webhook: http://127.0.0.1:9/webhook" in info.stdout and "max_connections: 3" in info.stdout
    assert "pending updates: 1" in info.stdout and "last error:" in info.stdout and SECRET not in info.stdout
    deleted = _cli("webhook", "delete", "--api-url", emu.url, **env)
    assert deleted.returncode == 0 and "pending updates kept" in deleted.stdout
    assert webhook_info(emu.url) == {"url": "", "has_custom_certificate": False, "pending_update_count": 1}
    polled = httpx.post(f"{emu.url}/bot{TOKEN}/getUpdates", json={"timeout": 0}, timeout=10).json()["result"]
    assert [u["message"]["text"] for u in polled] == ["while nobody listens"]   # back to polling, nothing lost
    assert "webhook: none" in _cli("webhook", "info", "--api-url", emu.url, **env).stdout


def test_a_second_bot_on_the_same_port_is_refused(cluster, emulator):
    emu, _ = emulator
    first = cluster.start_webhook(workers=1)
    port = cluster.ports[first.pid]
    env = cluster.env(USE_WEBHOOK="true", TELEGRAM_WEBHOOK_SECRET=SECRET, WEB_LISTEN=f"127.0.0.1:{port}",
                      WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook", BOT_TOKEN="654321:another-bot")
    done = subprocess.run([sys.executable, "-m", "botrunner", "start", "--workers", "1", "--api-url", emu.url],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 1
    assert f"127.0.0.1:{port} (WEB_LISTEN / WEBHOOK_PORT) is in use by another process" in done.stdout + done.stderr
    assert first.poll() is None and webhook_info(emu.url)["url"].endswith(f":{port}/webhook")
