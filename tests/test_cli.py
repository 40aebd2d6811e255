"""The CLI's own refusals: each is one clear line and a non-zero exit, before anything starts."""
from __future__ import annotations

from click.testing import CliRunner

import cli


def test_start_refuses_webhook_mode_without_a_secret(monkeypatch):
    for name, value in {"USE_WEBHOOK": "true", "WEBHOOK_URL": "https://bot.example.org/hook",
                        "BOT_TOKEN": "123:abc"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    result = CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "start"])
    assert result.exit_code == cli.EXIT_CONFIG
    assert "TELEGRAM_WEBHOOK_SECRET" in result.output and "secrets.token_urlsafe(32)" in result.output


def test_start_without_token_against_telegram_says_what_to_do(monkeypatch):
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_API_URL", raising=False)
    result = CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "start"])
    assert result.exit_code == cli.EXIT_CONFIG
    assert "BOT_TOKEN is not set" in result.output and "--api-url" in result.output


def test_start_without_options_runs_on_the_environment(monkeypatch):
    """What the systemd unit runs: `botrunner start` with everything from the environment file."""
    seen = {}

    class FakeSupervisor:
        def __init__(self, settings):
            seen["settings"] = settings

        def run(self):
            return 0
    monkeypatch.setattr("botrunner.supervisor.arbiter.Supervisor", FakeSupervisor)
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("WORKERS", "6")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081")
    result = CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "start"])
    assert result.exit_code == 0, result.output
    settings = seen["settings"]
    assert (settings.workers, settings.telegram_api_url, settings.bot_token) == (6, "http://127.0.0.1:8081", "123:abc")
    CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "start", "-w", "3", "--api-url", "http://h:1/"])
    assert (seen["settings"].workers, seen["settings"].telegram_api_url) == (3, "http://h:1")
