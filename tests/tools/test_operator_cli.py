"""Operator commands end in one clear line and a non-zero exit; status names its bot and never guesses.

Component tests: the real CLI (click's runner), the session Redis, the local Bot API server, SQLite.
"""
from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner

import cli
from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient
from botrunner.errors import FatalApiError
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.poller import Poller
from botrunner.intake.store import Intake
from botrunner.redis_keys import Keys

TOKEN = "424242:ops-test-token"
KEYS = Keys.for_token(TOKEN)


def invoke(args: list[str], env: dict[str, str]):
    """The CLI with no env file (unless args start with --env-file) and none of the shell's settings."""
    base = dict.fromkeys(["BOT_TOKEN", "REDIS_URL", "REDIS_HOST", "MONGODB_URL", "TELEGRAM_API_URL"])  # unset
    args = args if args[0] == "--env-file" else ["--env-file", "/nonexistent", *args]
    return CliRunner().invoke(cli.main, args, env={**base, **env}, prog_name="botrunner")


def one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def emulator():
    with running_emulator(port=0) as emu:
        with ControlClient(emu.url) as control:
            yield emu, control


def test_db_stats_without_a_database_says_so_and_creates_nothing(tmp_path):
    result = invoke(["db", "stats"], {"STATE_DIR": str(tmp_path / "state")})
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("botrunner db stats: no SQLite database at ") and str(tmp_path) in line
    assert not (tmp_path / "state" / "botrunner.sqlite3").exists()


def test_db_init_with_mongo_unreachable_is_one_line_naming_the_url(tmp_path):
    result = invoke(["db", "init"], {"STATE_DIR": str(tmp_path), "MONGO_TIMEOUT_MS": "300",
                                     "MONGODB_URL": "mongodb://admin:hunter2@127.0.0.1:9/botrunner"})
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "mongodb://admin:****@127.0.0.1:9/botrunner" in line and "hunter2" not in result.output
    assert len(line) < 400 and "Topology" not in line


def test_check_names_the_mongo_url_in_one_short_line(tmp_path):
    result = invoke(["check"], {"STATE_DIR": str(tmp_path), "MONGO_TIMEOUT_MS": "300",
                                "MONGODB_URL": "mongodb://127.0.0.1:9/botrunner"})
    assert result.exit_code == 1
    database = next(line for line in result.stdout.splitlines() if "] database:" in line)
    assert "cannot reach MongoDB at mongodb://127.0.0.1:9/botrunner" in database and len(database) < 400
    assert result.stderr.strip().splitlines()[-1].startswith("botrunner check: ")


def test_check_accepts_a_trailing_slash_and_finds_a_webhook(tmp_path, emulator):
    emu, control = emulator
    env_file = tmp_path / "botrunner.env"
    env_file.write_text(f"# the service's file\nBOT_TOKEN={TOKEN}\n")
    env = {"STATE_DIR": str(tmp_path)}
    clean = invoke(["--env-file", str(env_file), "check", "--api-url", emu.url + "/"], env)
    assert clean.exit_code == 0, clean.output
    assert "[  ok] webhook: no webhook set" in clean.stdout
    assert clean.stdout.splitlines()[-1] == "botrunner check: all 8 checks passed"
    import httpx
    assert httpx.post(f"{emu.url}/bot{TOKEN}/setWebhook", data={"url": "https://old-node-bot.example/hook"}).json()["ok"]
    blocked = invoke(["--env-file", str(env_file), "check", "--api-url", emu.url + "/"], env)
    assert blocked.exit_code == 1
    webhook = next(line for line in blocked.stdout.splitlines() if "] webhook:" in line)
    assert webhook.startswith("[FAIL] webhook: a webhook is set (https://old-node-bot.example/hook")
    assert "deleteWebhook" in webhook and TOKEN not in blocked.output


def test_status_refuses_to_guess_the_bot(redis_url):
    result = invoke(["status"], {"REDIS_URL": redis_url})
    assert result.exit_code == 1
    assert "BOT_TOKEN is not set" in one_error_line(result)


def test_status_of_a_bot_with_no_keys_names_the_bots_that_are_there(redis_url, redis_client):
    redis_client.zadd("botrunner:777:{workers}", {"w1": 1})
    result = invoke(["status"], {"REDIS_URL": redis_url, "BOT_TOKEN": TOKEN})
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "no trace of bot 424242" in line and "777" in line


def test_status_without_the_embedded_redis_names_state_dir(tmp_path):
    result = invoke(["status"], {"STATE_DIR": str(tmp_path / "elsewhere"), "BOT_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert f"STATE_DIR={tmp_path / 'elsewhere'}" in one_error_line(result)


def test_status_of_an_unreachable_redis_is_one_line(tmp_path):
    result = invoke(["status"], {"REDIS_URL": f"unix://{tmp_path}/gone.sock", "BOT_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert one_error_line(result).startswith(f"botrunner status: cannot reach Redis at unix://{tmp_path}/gone.sock")


def test_status_shows_the_bot_the_last_poll_error_and_the_webhook(redis_url, emulator):
    emu, control = emulator
    control.add_fault("getUpdates", error_code=401, description="Unauthorized", times=None, token=TOKEN)

    async def poll_once():
        client = aioredis.from_url(redis_url)
        try:
            with pytest.raises(FatalApiError):
                poller = Poller(PollLease(client, KEYS, "w", 2000), Intake(client, KEYS), emu.url, TOKEN, 4, 1)
                await asyncio.wait_for(poller.run(), 10)
        finally:
            await client.aclose()
    asyncio.run(poll_once())
    result = invoke(["status", "--api-url", emu.url], {"REDIS_URL": redis_url, "BOT_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Bot: 424242 (keys botrunner:424242:*)"
    assert any(line.startswith("Last poll error: 401 Unauthorized (the token was rejected") for line in lines)
    assert any(line.startswith("Webhook: none (long polling works") for line in lines)
    as_json = json.loads(invoke(["status", "--json", "--api-url", emu.url],
                                {"REDIS_URL": redis_url, "BOT_TOKEN": TOKEN}).stdout)
    assert as_json["poll_error"]["code"] == 401 and as_json["webhook"]["url"] == ""


def test_an_unexpected_failure_in_any_command_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke(["db", "init"], {"STATE_DIR": str(blocker / "state")})
    assert result.exit_code == 1
    assert one_error_line(result).startswith("botrunner db init: ")


def test_check_fails_when_the_named_env_file_is_missing(tmp_path):
    result = CliRunner().invoke(cli.main, ["--env-file", str(tmp_path / "botrunner.evn"), "check"],
                                env={"STATE_DIR": str(tmp_path), "BOT_TOKEN": ""}, prog_name="botrunner")
    assert result.exit_code == 1
    assert f"[FAIL] env file: {tmp_path / 'botrunner.evn'} does not exist" in result.stdout


def test_check_in_webhook_mode_expects_the_configured_webhook(tmp_path, emulator):
    emu, _ = emulator
    hook = "https://bot.example.org/telegram/webhook"
    env = {"STATE_DIR": str(tmp_path), "BOT_TOKEN": TOKEN, "USE_WEBHOOK": "true", "WEBHOOK_URL": hook,
           "TELEGRAM_WEBHOOK_SECRET": "s3cret-value_1"}
    unset = invoke(["check", "--api-url", emu.url], env)
    webhook = next(line for line in unset.stdout.splitlines() if "] webhook:" in line)
    assert webhook.startswith("[  ok] webhook: USE_WEBHOOK=true: Telegram has no webhook; `start` registers " + hook)
    import httpx
    assert httpx.post(f"{emu.url}/bot{TOKEN}/setWebhook", data={"url": hook, "secret_token": "s3cret-value_1"}).json()["ok"]
    registered = invoke(["check", "--api-url", emu.url], env)
    assert f"[  ok] webhook: USE_WEBHOOK=true: webhook set to {hook}" in registered.stdout
    assert "s3cret-value_1" not in registered.output
