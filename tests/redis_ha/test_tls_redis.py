"""One Redis that speaks only TLS (port 0, tls-port; tests/redis_ha/tls_servers.py), reached with
REDIS_URL=rediss://...: every kind of client botrunner builds works over it, `check`, `status` and
`start` work over it, and each wrong TLS setting fails fast with a line naming the setting to fix."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from botrunner import redis_clients
from botrunner.config.settings import load_settings
from botrunner.tools.operator_errors import one_line
from botrunner.worker.process import lane_read_redis, pipeline_redis
from storage.factory import redis_client as cache_client
from tests.redis_ha.servers import Node, binaries
from tests.redis_ha.tls_servers import TlsChaosRun, tls_server
from tests.runner.conftest import ROOT

FAST_S = 30        # generous on a loaded machine; a hang would be REDIS_TIMEOUT_S x retries x components


@pytest.fixture
def mutual(tmp_path, tls_certs):
    """A TLS-only server that requires a client certificate."""
    node = tls_server(tmp_path / "tls", tls_certs, auth_clients="yes").start()
    _wait(lambda: node.client().ping())
    yield node
    node.kill()


def tls_settings(node, tmp_path, **env: str):
    return load_settings(environ={"REDIS_URL": node.url, "STATE_DIR": str(tmp_path / "state"), **env}, env_file=None)


def botrunner(command: str, url: str, tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {"PATH": "/usr/bin:/bin", "REDIS_URL": url, "STATE_DIR": str(tmp_path / "state"),
               "BOT_TOKEN": "123456:tls-test", "BOTRUNNER_ENV_FILE": "/nonexistent.env", **env}
    return subprocess.run([sys.executable, "-m", "botrunner", command, *args], env=environ, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def redis_line(done: subprocess.CompletedProcess) -> str:
    return next((line for line in done.stdout.splitlines() if "] redis:" in line), done.stdout + done.stderr)


def test_every_client_botrunner_builds_talks_tls_with_its_client_certificate(mutual, tmp_path, tls_certs):
    s = tls_settings(mutual, tmp_path, **tls_certs.env(client_cert=True))
    pipeline = redis_clients.sync_client(s, s.redis_dedup_db, timeout=2)       # supervisor, status, check
    assert pipeline.set("tls:probe", "1") and pipeline.get("tls:probe") == b"1"
    sessions = redis_clients.sync_client(s, s.redis_session_db, timeout=2)
    assert sessions.set("tls:session", "2") and sessions.get("tls:session") == b"2"
    cache = cache_client(s, s.redis_cache_db)                  # the user cache and its invalidation listener
    listener = cache.pubsub()
    listener.subscribe("tls:invalidate")
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    assert cache.publish("tls:invalidate", "user:1") == 1
    assert _next_message(listener)["data"] == b"user:1"

    async def async_clients() -> list:
        pool, reader = pipeline_redis(s), lane_read_redis(s)  # the worker's pool, the lane reader (and web front)
        events = pool.pubsub()                                # lane events and the cluster's pub/sub lane
        await events.subscribe("tls:lanes")
        await events.get_message(timeout=5)
        await pool.publish("tls:lanes", "moved")
        got = await events.get_message(ignore_subscribe_messages=True, timeout=5)
        out = [await pool.incr("tls:count"), await reader.get("tls:probe"), got and got["data"]]
        await events.aclose()
        await pool.aclose()
        await reader.aclose()
        return out
    assert asyncio.run(async_clients()) == [1, b"1", b"moved"]


def test_check_and_status_read_redis_over_tls(mutual, tmp_path, tls_certs):
    done = botrunner("check", mutual.url, tmp_path, **tls_certs.env(client_cert=True))
    assert redis_line(done).startswith(f"[  ok] redis: Redis at {mutual.url} answers (redis 7"), done.stdout
    status = botrunner("status", mutual.url, tmp_path, **tls_certs.env(client_cert=True))
    # it read the pipeline's keys over TLS and found none (the burst test runs it on a started bot)
    assert f"no trace of bot 123456 in Redis at {mutual.url}" in status.stderr, status.stderr


def test_without_a_client_certificate_check_says_which_settings_to_set(mutual, tmp_path, tls_certs):
    started = time.monotonic()
    done = botrunner("check", mutual.url, tmp_path, **tls_certs.env(client_cert=False))
    assert time.monotonic() - started < FAST_S
    line = redis_line(done)
    assert line.startswith(f"[FAIL] redis: cannot reach Redis at {mutual.url}"), line
    assert "requires a client certificate (tls-auth-clients): set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE" in line


def test_a_client_certificate_the_server_does_not_trust_is_named(mutual, tmp_path, tls_certs):
    done = botrunner("check", mutual.url, tmp_path, REDIS_TLS_CA_FILE=tls_certs.ca,
                     REDIS_TLS_CERT_FILE=tls_certs.stranger_cert, REDIS_TLS_KEY_FILE=tls_certs.stranger_key)
    line = redis_line(done)
    assert line.startswith(f"[FAIL] redis: cannot reach Redis at {mutual.url}"), line
    assert f"does it trust the client certificate REDIS_TLS_CERT_FILE ({tls_certs.stranger_cert})?" in line, line


def test_a_wrong_ca_fails_check_and_start_at_once_naming_the_ca_file(mutual, tmp_path, tls_certs):
    wrong = {"REDIS_TLS_CA_FILE": tls_certs.other_ca, "REDIS_TLS_CERT_FILE": tls_certs.client_cert,
             "REDIS_TLS_KEY_FILE": tls_certs.client_key}
    started = time.monotonic()
    done = botrunner("check", mutual.url, tmp_path, **wrong)
    line = redis_line(done)
    assert "certificate verify failed" in line and (
        f"not signed by a CA botrunner trusts: check REDIS_TLS_CA_FILE ({tls_certs.other_ca})") in line, line
    start = botrunner("start", mutual.url, tmp_path, "--workers", "1", "--api-url", "http://127.0.0.1:9", **wrong)
    assert time.monotonic() - started < 2 * FAST_S
    assert start.returncode != 0
    assert f"botrunner start: cannot reach Redis at {mutual.url}" in start.stderr, start.stderr
    assert "check REDIS_TLS_CA_FILE" in start.stderr


def test_the_password_stays_hidden_when_tls_fails(tmp_path, tls_certs):
    node = tls_server(tmp_path / "tls", tls_certs, auth_clients="no")
    node.lines.append("requirepass hunter2-secret")
    node.start()
    try:
        url = node.url.replace("rediss://", "rediss://:hunter2-secret@")
        s = load_settings(environ={"REDIS_URL": url, "REDIS_TLS_CA_FILE": tls_certs.other_ca}, env_file=None)
        with pytest.raises(Exception) as caught:
            _wait(lambda: redis_clients.sync_client(s, 0, timeout=2).ping(), give_up_on=("certificate verify",))
        line = one_line(caught.value, s)
        assert "rediss://:****@127.0.0.1" in line and "hunter2-secret" not in line, line
        right = load_settings(environ={"REDIS_URL": url, "REDIS_TLS_CA_FILE": tls_certs.ca}, env_file=None)
        assert redis_clients.sync_client(right, 0, timeout=2).ping()
    finally:
        node.kill()


def test_host_name_checking_follows_redis_tls_verify(tmp_path, tls_certs):
    """The server's certificate names redis.example only; botrunner connects to 127.0.0.1."""
    node = tls_server(tmp_path / "tls", tls_certs, auth_clients="no", cert="elsewhere").start()
    try:
        _wait(lambda: node.client(ssl_check_hostname=False).ping())
        full = botrunner("check", node.url, tmp_path, **tls_certs.env())
        assert "does not name the address botrunner connects to: connect by a name it lists, or set " \
               "REDIS_TLS_VERIFY=ca" in redis_line(full), full.stdout
        ca = botrunner("check", node.url, tmp_path, REDIS_TLS_VERIFY="ca", **tls_certs.env())
        assert redis_line(ca).startswith("[  ok] redis:"), ca.stdout
        wrong_ca = botrunner("check", node.url, tmp_path, REDIS_TLS_VERIFY="ca", REDIS_TLS_CA_FILE=tls_certs.other_ca)
        assert "check REDIS_TLS_CA_FILE" in redis_line(wrong_ca), wrong_ca.stdout      # ca still checks the chain
        unchecked = botrunner("check", node.url, tmp_path, REDIS_TLS_VERIFY="none", REDIS_TLS_CA_FILE=tls_certs.other_ca)
        assert redis_line(unchecked).startswith("[  ok] redis:"), unchecked.stdout    # none: encrypted, unchecked
    finally:
        node.kill()


def test_a_plain_url_to_a_tls_port_suggests_rediss(mutual, tmp_path):
    done = botrunner("check", f"redis://127.0.0.1:{mutual.port}/0", tmp_path)
    assert "(if that port speaks TLS: REDIS_URL=rediss://host:port)" in redis_line(done), done.stdout


def test_a_rediss_url_to_a_plain_port_fails_within_the_timeout_and_says_so(tmp_path, tls_certs):
    plain = Node(binaries()[0], tmp_path / "plain", ['save ""']).start()
    try:
        _wait(lambda: plain.client().ping())
        started = time.monotonic()
        done = botrunner("check", f"rediss://127.0.0.1:{plain.port}/0", tmp_path, **tls_certs.env())
        assert time.monotonic() - started < FAST_S
        assert "does the server speak TLS on that port (its tls-port)?" in redis_line(done), done.stdout
    finally:
        plain.kill()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_botrunner_start_handles_a_burst_over_mutual_tls(tls_certs):
    """`botrunner start --workers 2` with the pipeline on a TLS-only Redis that requires client
    certificates: every update of the stream answered, each chat in order, nothing left pending."""
    with TlsChaosRun("burst over mutual TLS", tls_certs, auth_clients="yes") as run:
        run.start(2)
        stream = run.stream(users=40, per_user=10, rate=200.0)
        run.settle(stream, 120)
        result = run.result(stream)
        assert result.updates == 400, result
        assert (result.lost, result.order_violations, result.pending_left) == (0, 0, 0), result
        assert result.duplicates == 0, result
        status = subprocess.run([sys.executable, "-m", "botrunner", "status", "--json"], env=run.env(), cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr


def _next_message(listener, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = listener.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message:
            return message
    raise TimeoutError("no message")


def _wait(probe, timeout: float = 20.0, give_up_on: tuple[str, ...] = ()):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except Exception as exc:
            if time.monotonic() > deadline or any(word in str(exc) for word in give_up_on):
                raise
            time.sleep(0.05)
