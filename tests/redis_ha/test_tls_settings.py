"""The REDIS_TLS_* settings: what is refused at start-up, with which words, and what redis-py is given."""
from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from botrunner import redis_clients
from botrunner.config.settings import load_settings
from botrunner.errors import ConfigError
from tests.runner.conftest import ROOT

TLS_URL = "rediss://:hunter2-secret@redis.example:6380/0"


def settings(**env: str):
    return load_settings(environ=env, env_file=None)


def refused(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    return str(caught.value)


def test_rediss_url_is_tls_and_passes_the_files_and_checks(tls_certs):
    s = settings(REDIS_URL=TLS_URL, **tls_certs.env(client_cert=True))
    assert s.redis_tls
    assert redis_clients.tls_options(s) == {
        "ssl_cert_reqs": "required", "ssl_check_hostname": True, "ssl_ca_certs": tls_certs.ca,
        "ssl_certfile": tls_certs.client_cert, "ssl_keyfile": tls_certs.client_key}


def test_verify_ca_keeps_the_chain_check_and_drops_the_name_check_none_drops_both():
    ca = settings(REDIS_URL=TLS_URL, REDIS_TLS_VERIFY="ca")
    assert redis_clients.tls_options(ca) == {"ssl_cert_reqs": "required", "ssl_check_hostname": False}
    none = settings(REDIS_URL=TLS_URL, REDIS_TLS_VERIFY="none")
    assert redis_clients.tls_options(none) == {"ssl_cert_reqs": "none", "ssl_check_hostname": False}


def test_sentinel_tls_tells_the_sentinel_connections_ssl_true(tls_certs):
    s = settings(REDIS_SENTINELS="10.0.0.1:26379,10.0.0.2:26379", REDIS_SENTINEL_TLS="true", **tls_certs.env())
    assert s.redis_tls and redis_clients.tls_options(s)["ssl"] is True
    sentinel = redis_clients.sentinel_client(s)
    kwargs = sentinel.sentinels[0].connection_pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == tls_certs.ca and type(sentinel.sentinels[0].connection_pool.make_connection()
                                                           ).__name__ == "SSLConnection"


def test_no_tls_gives_redis_py_nothing():
    for s in (settings(REDIS_URL="redis://h:6379/0"), settings(REDIS_SENTINELS="10.0.0.1:26379"), settings()):
        assert not s.redis_tls and redis_clients.tls_options(s) == {}


@pytest.mark.parametrize("env", [
    {"REDIS_URL": "redis://h:6379/0"},
    {"REDIS_HOST": "redis.example"},
    {},                                           # the embedded Redis
    {"REDIS_SENTINELS": "10.0.0.1:26379"},        # Sentinels without REDIS_SENTINEL_TLS
])
def test_tls_files_without_any_tls_connection_are_refused_by_name(tls_certs, env):
    message = refused(**env, **tls_certs.env(client_cert=True))
    assert message.startswith("REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE are set, but no Redis "
                              "connection uses TLS"), message
    assert "rediss://" in message and "REDIS_SENTINEL_TLS" in message


def test_verify_without_tls_is_refused():
    assert refused(REDIS_URL="redis://h:6379/0", REDIS_TLS_VERIFY="none").startswith("REDIS_TLS_VERIFY is set, but")


def test_sentinel_tls_without_sentinels_is_refused():
    assert "REDIS_SENTINEL_TLS=true is invalid: expected REDIS_SENTINELS" in refused(
        REDIS_URL=TLS_URL, REDIS_SENTINEL_TLS="true")


def test_a_certificate_without_its_key_and_a_key_without_its_certificate_are_refused(tls_certs):
    assert refused(REDIS_URL=TLS_URL, REDIS_TLS_CERT_FILE=tls_certs.client_cert).startswith(
        "REDIS_TLS_CERT_FILE is set without REDIS_TLS_KEY_FILE: expected both")
    assert refused(REDIS_URL=TLS_URL, REDIS_TLS_KEY_FILE=tls_certs.client_key).startswith(
        "REDIS_TLS_KEY_FILE is set without REDIS_TLS_CERT_FILE: expected both")


def test_a_missing_or_unreadable_file_is_named(tls_certs, tmp_path):
    missing = str(tmp_path / "nope.pem")
    assert refused(REDIS_URL=TLS_URL, REDIS_TLS_CA_FILE=missing) == (
        f"REDIS_TLS_CA_FILE={missing!r} is invalid: expected a readable PEM file (No such file or directory)")
    message = refused(REDIS_URL=TLS_URL, REDIS_TLS_CERT_FILE=tls_certs.client_cert, REDIS_TLS_KEY_FILE=str(tmp_path))
    assert message.startswith(f"REDIS_TLS_KEY_FILE={str(tmp_path)!r} is invalid: expected a readable PEM file")


def test_a_ca_file_that_holds_no_certificate_is_refused(tmp_path):
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    assert refused(REDIS_URL=TLS_URL, REDIS_TLS_CA_FILE=str(junk)).startswith(
        f"REDIS_TLS_CA_FILE={str(junk)!r} is invalid: expected PEM CA certificates")


def test_a_key_of_another_certificate_is_refused_without_printing_the_key(tls_certs):
    message = refused(REDIS_URL=TLS_URL, REDIS_TLS_CERT_FILE=tls_certs.client_cert,
                      REDIS_TLS_KEY_FILE=tls_certs.server_key)
    assert message.startswith(f"REDIS_TLS_CERT_FILE={tls_certs.client_cert!r} with REDIS_TLS_KEY_FILE=")
    assert "key values mismatch" in message
    key_text = open(tls_certs.server_key).read()
    assert "PRIVATE KEY" not in message and key_text.splitlines()[1] not in message


def test_an_encrypted_key_is_refused_without_prompting_for_its_passphrase(tls_certs, tmp_path):
    key = serialization.load_pem_private_key(open(tls_certs.client_key, "rb").read(), None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"passphrase")))
    assert "expected an unencrypted key" in refused(REDIS_URL=TLS_URL, REDIS_TLS_CERT_FILE=tls_certs.client_cert,
                                                    REDIS_TLS_KEY_FILE=str(locked))


def test_the_cli_stops_with_the_setting_named_and_the_password_masked(tls_certs, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": TLS_URL, "REDIS_TLS_CERT_FILE": tls_certs.client_cert,
           "STATE_DIR": str(tmp_path), "BOTRUNNER_ENV_FILE": "/nonexistent.env"}
    done = subprocess.run([sys.executable, "-m", "botrunner", "check"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done
    assert "REDIS_TLS_CERT_FILE is set without REDIS_TLS_KEY_FILE" in done.stderr
    assert "hunter2-secret" not in done.stdout + done.stderr
