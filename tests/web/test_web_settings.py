"""The HTTP front's settings: WEB_LISTEN and its WEBHOOK_PORT alias, CIDR lists, the webhook checks."""
from __future__ import annotations

import pytest

from botrunner.config.settings import ConfigError, load_settings
from botrunner.intake.webhook_registration import set_problem


def settings(**env: str):
    return load_settings(environ=env, env_file=None)


def test_listen_default_and_the_guides_port_alias():
    assert settings().web_address == ("127.0.0.1", 8443)
    assert settings(WEBHOOK_PORT="8444").web_address == ("127.0.0.1", 8444)
    assert settings(WEB_LISTEN="[::]:9000").web_address == ("::", 9000)
    assert settings(WEB_LISTEN="0.0.0.0:9000", WEBHOOK_PORT="9000").web_address == ("0.0.0.0", 9000)


def test_listen_and_port_that_disagree_are_refused():
    with pytest.raises(ConfigError, match=r"WEBHOOK_PORT=9001 is invalid: expected the port of WEB_LISTEN"):
        settings(WEB_LISTEN="0.0.0.0:9000", WEBHOOK_PORT="9001")


@pytest.mark.parametrize("env, message", [
    ({"WEB_LISTEN": "8443"}, "WEB_LISTEN='8443' is invalid: expected host:port"),
    ({"WEB_LISTEN": "host:99999"}, "expected host:port"),
    ({"WEBHOOK_TRUSTED_NETWORKS": "149.154.160.0/20, telegram"}, "expected a comma-separated list of networks"),
    ({"WEBHOOK_PATH": "webhook"}, "expected a URL path starting with /"),
    ({"WEBHOOK_MAX_CONNECTIONS": "101"}, "expected an integer in 1..100"),
])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        settings(**env)


def test_networks_are_normalised():
    assert settings(WEBHOOK_TRUSTED_NETWORKS="149.154.167.1/20 91.108.4.0/22").webhook_trusted_networks == (
        "149.154.160.0/20", "91.108.4.0/22")


def test_webhook_mode_needs_url_and_secret_and_https_for_telegram():
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET.*secrets.token_urlsafe"):
        settings(USE_WEBHOOK="true", WEBHOOK_URL="https://bot.example.org/webhook")
    plain = settings(USE_WEBHOOK="true", WEBHOOK_URL="http://bot.example.org/webhook", TELEGRAM_WEBHOOK_SECRET="s")
    assert "must start with https://" in set_problem(plain)
    local = plain.replace(telegram_api_url="http://127.0.0.1:8081")
    assert set_problem(local) is None            # a local Bot API server may post over plain HTTP
