"""setWebhook as the supervisor and `botrunner webhook set` call it, against the local Bot API server."""
from __future__ import annotations

import pytest

from botrunner.bot.router import Router
from botrunner.config.settings import load_settings
from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient
from botrunner.intake import webhook_registration as reg
from botrunner.intake.raw_api import ApiError

TOKEN = "123456:registration"


@pytest.fixture
def emulator():
    with running_emulator(port=0) as emu, ControlClient(emu.url) as control:
        yield emu, control


def _settings(api_url: str, **env: str):
    base = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url, "USE_WEBHOOK": "true",
            "WEBHOOK_URL": "http://127.0.0.1:9/webhook", "TELEGRAM_WEBHOOK_SECRET": "reg-secret",
            "WEBHOOK_MAX_CONNECTIONS": "7"}
    return load_settings(environ={**base, **env}, env_file=None)


def test_set_sends_the_routers_kinds_and_keeps_pending_updates(emulator):
    emu, control = emulator
    control.inject_message(TOKEN, 42, "waiting since before the webhook")
    router = Router()
    router.allowed_updates = ["message", "callback_query", "my_chat_member"]
    settings = _settings(emu.url)
    assert "max_connections 7" in reg.set_webhook(settings, reg.allowed_updates(router))
    info = reg.webhook_info(settings)
    assert (info["url"], info["max_connections"]) == ("http://127.0.0.1:9/webhook", 7)
    assert info["allowed_updates"] == ["message", "callback_query", "my_chat_member"]
    assert info["pending_update_count"] == 1                     # not dropped
    assert reg.allowed_updates(Router()) == []                    # default: Telegram's default set


def test_a_refusal_is_an_api_error_without_the_token(emulator):
    emu, _ = emulator
    settings = _settings(emu.url).replace(webhook_url="http://")   # no host: the Bot API server refuses it
    with pytest.raises(ApiError) as refused:
        reg.set_webhook(settings, [])
    assert refused.value.code == 400 and TOKEN.split(":")[1] not in str(refused.value)


def test_no_answer_is_code_0_and_says_where():
    settings = _settings("http://127.0.0.1:9")                    # nothing listens on port 9
    with pytest.raises(ApiError) as silent:
        reg.call(settings, "getWebhookInfo", {}, timeout=2)
    assert silent.value.code == 0 and "http://127.0.0.1:9" in silent.value.description
    assert TOKEN not in str(silent.value)


def test_info_lines_for_operators():
    lines = reg.info_lines({"url": "https://bot.example.org/webhook", "max_connections": 40, "pending_update_count": 3,
                            "last_error_date": 0, "last_error_message": ""}, {"unauthorized": 2, "malformed": 1})
    assert lines == ["webhook: https://bot.example.org/webhook", "max_connections: 40",
                     "allowed_updates: Telegram default", "pending updates: 3",
                     "refused POSTs: malformed 1, unauthorized 2"]
    assert reg.info_lines({"url": ""}, {})[0].startswith("webhook: none")


def test_check_accepts_our_own_webhook_in_webhook_mode(emulator):
    from botrunner.tools.preflight import OperatorError, check_webhook
    emu, _ = emulator
    settings = _settings(emu.url)
    assert "Telegram has no webhook" in check_webhook(settings)
    reg.set_webhook(settings, [])
    assert f"webhook set to {settings.webhook_url}" in check_webhook(settings)
    with pytest.raises(OperatorError, match="a webhook is set"):   # polling mode: a webhook blocks getUpdates
        check_webhook(settings.replace(use_webhook=False))
