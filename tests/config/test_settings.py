"""Settings: parsing, validation messages, .env loading, masking, the generated reference."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from botrunner.config.reference import reference_markdown
from botrunner.config.settings import Settings, describe, load_settings, mask
from botrunner.errors import ConfigError

TOKEN = "123456:AAE-secretpart_xyz"


def load(**env: str) -> Settings:
    return load_settings(environ=env, env_file=None)


def test_defaults_need_nothing():
    s = load()
    assert s.workers == 2 and s.lanes == 64 and s.redis_session_db == 1 and s.redis_cache_db == 2
    assert s.user_cache_size == 50000 and s.user_cache_ttl_ms == 300000
    assert s.embedded_redis and s.sqlite_file.endswith("botrunner.sqlite3")


def test_values_are_typed():
    s = load(WORKERS="4", ENABLE_REFERRAL_BATCHING="off", LOG_FORMAT="JSON", DRAIN_TIMEOUT_S="7.5")
    assert (s.workers, s.enable_referral_batching, s.log_format, s.drain_timeout_s) == (4, False, "json", 7.5)


@pytest.mark.parametrize("env, message", [
    ({"REDIS_PORT": "abc"}, "REDIS_PORT='abc' is invalid: expected an integer in 1..65535"),
    ({"REDIS_PORT": "70000"}, "REDIS_PORT='70000' is invalid: expected an integer in 1..65535"),
    ({"REDIS_CACHE_DB": "16"}, "REDIS_CACHE_DB='16' is invalid: expected an integer in 0..15"),
    ({"MAX_WORKER_MEMORY_MB": "8"}, "MAX_WORKER_MEMORY_MB='8' is invalid: expected an integer >= 32"),
    ({"ENABLE_REFERRAL_BATCHING": "maybe"}, "ENABLE_REFERRAL_BATCHING='maybe' is invalid: expected one of true/false"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is invalid: expected one of text, json"),
    ({"DRAIN_TIMEOUT_S": "soon"}, "DRAIN_TIMEOUT_S='soon' is invalid: expected a number in 0.5..600"),
    ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN='not-a-token' is invalid: expected <bot id>:<secret>"),
    ({"TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL='ftp://x' is invalid: expected a URL starting with http://"),
    ({"MONGODB_URL": "postgres://x"}, "MONGODB_URL='postgres://x' is invalid: expected a URL starting with mongodb://"),
    ({"TELEGRAM_WEBHOOK_SECRET": "has space"}, "TELEGRAM_WEBHOOK_SECRET='has space' is invalid: expected 1..256"),
    ({"LOG_ROTATION": "big"}, "LOG_ROTATION='big' is invalid: expected a size such as '50 MB'"),
    ({"MONGO_MIN_POOL_SIZE": "300"}, "MONGO_MIN_POOL_SIZE=300 is invalid: expected at most MONGO_MAX_POOL_SIZE (200)"),
    ({"USE_WEBHOOK": "true"}, "USE_WEBHOOK=true is invalid: expected WEBHOOK_URL to be set as well"),
    ({"USE_WEBHOOK": "true", "WEBHOOK_URL": "https://bot.example.org/hook"},
     "USE_WEBHOOK=true is invalid: expected TELEGRAM_WEBHOOK_SECRET to be set as well"),
])
def test_invalid_values_give_one_line(env, message):
    with pytest.raises(ConfigError) as err:
        load(**env)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_empty_means_unset():
    assert load(REDIS_PORT="", WORKERS="  ").redis_port == 6379


def test_env_file_loaded_and_environment_wins(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("WORKERS=6\nLANES=128\n# comment\nBOT_TOKEN='123:abc'\n")
    s = load_settings(environ={"LANES": "32"}, env_file=env_file)
    assert (s.workers, s.lanes, s.bot_token) == (6, 32, "123:abc")


def test_missing_env_file_is_fine(tmp_path: Path):
    assert load_settings(environ={}, env_file=tmp_path / "nope.env").workers == 2


def test_invalid_value_in_env_file_is_reported(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("LANES=zero\n")
    with pytest.raises(ConfigError, match="LANES='zero'"):
        load_settings(environ={}, env_file=env_file)


def test_settings_are_frozen():
    s = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.workers = 9  # type: ignore[misc]
    assert s.replace(workers=9).workers == 9 and s.workers == 2
    assert s.replace(workers=None, telegram_api_url=None) == s        # an omitted CLI option changes nothing


@pytest.mark.parametrize("env, db, url", [
    ({"REDIS_URL": "redis://:pw@r1:6380/0"}, 2, "redis://:pw@r1:6380/2"),
    ({"REDIS_HOST": "r2", "REDIS_PASSWORD": "pw"}, 1, "redis://:pw@r2:6379/1"),
    ({"REDIS_HOST": "r2"}, 0, "redis://r2:6379/0"),
    ({"REDIS_URL": "unix:///run/redis.sock?db=3"}, 1, "unix:///run/redis.sock?db=1"),
])
def test_redis_url_for(env, db, url):
    assert load(**env).redis_url_for(db) == url


def test_embedded_redis_url_points_at_state_dir(tmp_path: Path):
    s = load(STATE_DIR=str(tmp_path))
    assert s.redis_url_for(1) == f"unix://{tmp_path}/redis/redis.sock?db=1"


@pytest.mark.parametrize("secret, shown", [
    (TOKEN, "123456:****"),
    ("redis://:hunter2@r1:6379/0", "redis://:****@r1:6379/0"),
    ("mongodb://user:hunter2@m1,m2/db?replicaSet=rs0", "mongodb://user:****@m1,m2/db?replicaSet=rs0"),
    ("plain-secret", "****"),
    ("", ""),
])
def test_mask(secret, shown):
    assert mask(secret) == shown


def test_describe_masks_every_secret():
    s = load(BOT_TOKEN=TOKEN, REDIS_PASSWORD="hunter2", SESSION_ENCRYPTION_KEY="k" * 44,
             MONGODB_URL="mongodb://u:hunter2@m1/db", TELEGRAM_WEBHOOK_SECRET="s3cr3t-value")
    text = repr(describe(s))
    for secret in ("AAE-secretpart_xyz", "hunter2", "k" * 44, "s3cr3t-value"):
        assert secret not in text
    assert ("BOT_TOKEN", "123456:****", "set") in describe(s)


def test_cli_config_prints_masked_settings(monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WORKERS", "3")
    result = CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "config"])
    assert result.exit_code == 0
    assert "123456:****" in result.output and "AAE-secretpart_xyz" not in result.output
    assert any(line.split()[:2] == ["WORKERS", "3"] and "(set)" in line for line in result.output.splitlines())


def test_cli_bad_value_stops_with_one_line(monkeypatch):
    monkeypatch.setenv("LANES", "-1")
    result = CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "config"])
    assert result.exit_code == cli.EXIT_CONFIG
    assert result.output.strip().splitlines() == [
        "botrunner: configuration error: LANES='-1' is invalid: expected an integer in 1..4096"]


def test_configuration_reference_is_current():
    """docs/configuration.md is generated; regenerate with `botrunner config --markdown`."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert doc.read_text() == reference_markdown()


def test_reference_lists_every_variable():
    text = reference_markdown()
    for name, _, _ in describe(load()):
        assert f"`{name}`" in text
