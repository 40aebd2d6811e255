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
    ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN='****' is invalid: expected <bot id>:<secret>"),
    ({"TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL='ftp://x' is invalid: expected a URL starting with http://"),
    ({"MONGODB_URL": "postgres://x"}, "MONGODB_URL='postgres://x' is invalid: expected a URL starting with mongodb://"),
    ({"TELEGRAM_WEBHOOK_SECRET": "has space"}, "TELEGRAM_WEBHOOK_SECRET='****' is invalid: expected 1..256"),
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
    ({"REDIS_HOST": "r2", "REDIS_PASSWORD": "p@ss:w/rd?#%"}, 1, "redis://:p%40ss%3Aw%2Frd%3F%23%25@r2:6379/1"),
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
    ("mongodb://m1/db?authSource=admin&password=hunter2", "mongodb://m1/db?authSource=admin&password=****"),
    ("redis://r1:6379/0?token=hunter2&db=0", "redis://r1:6379/0?token=****&db=0"),
    ("https://x.example/h?api_key=hunter2&X-Amz-Signature=hunter2", "https://x.example/h?api_key=****&X-Amz-Signature=****"),
    ("redis://u:hunter2@r1:6379/0?client_secret=hunter2", "redis://u:****@r1:6379/0?client_secret=****"),
    ("²:hunter2", "****"),
    ("unix:///run/redis.sock?db=3", "unix:///run/redis.sock?db=3"),            # nothing secret: as written
    ("unix://:hunter2@/run/redis.sock?db=3", "unix://:****@/run/redis.sock?db=3"),
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


@pytest.mark.parametrize("env", [
    {"REDIS_URL": "redis://:hunter2@r1:notaport/0x"},
    {"REDIS_URL": "ftp://:hunter2@r1/0"},
    {"MONGODB_URL": "postgres://u:hunter2@m1/db"},
    {"MONGODB_URL": "mongodb://m1/db?password=hunter2", "MONGODB_DB": "bad name"},
    {"BOT_TOKEN": "123:hunter2 with a space"},
    {"SESSION_ENCRYPTION_KEY": "hunter2", "WORKERS": "0"},
])
def test_config_errors_never_show_a_secret(env):
    with pytest.raises(ConfigError) as err:
        load(**env)
    assert "hunter2" not in str(err.value)


def test_settings_repr_holds_no_secret():
    s = load(BOT_TOKEN=TOKEN, REDIS_URL="redis://:hunter2@r1:6379/0", REDIS_PASSWORD="hunter2",
             MONGODB_URL="mongodb://u:hunter2@m1/db", SESSION_ENCRYPTION_KEY="hunter2",
             TELEGRAM_WEBHOOK_SECRET="hunter2")
    assert "hunter2" not in repr(s) and "AAE-secretpart_xyz" not in repr(s) and "workers=2" in repr(s)


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


@pytest.mark.parametrize("env, field, value", [
    ({"TELEGRAM_BOT_TOKEN": TOKEN}, "bot_token", TOKEN),
    ({"TELEGRAM_BOT_TOKEN": "9:other", "BOT_TOKEN": TOKEN}, "bot_token", TOKEN),     # botrunner's name wins
    ({"MONGODB_URI": "mongodb://m1/x"}, "mongodb_url", "mongodb://m1/x"),
    ({"MONGO_URI": "mongodb://m2/x"}, "mongodb_url", "mongodb://m2/x"),
    ({"MONGODB_DATABASE": "airdrop"}, "mongodb_db", "airdrop"),
    ({"MONGODB_DB_NAME": "airdrop2"}, "mongodb_db", "airdrop2"),
    ({"MIN_WITHDRAWAL": "250"}, "min_withdraw_points", 250),
    ({"POINT_TO_TOKEN_RATIO": "0.5"}, "points_to_token_conversion_rate", 0.5),
    ({"ADMIN_CHAT_ID": "-100123"}, "admin_chat_id", "-100123"),
    ({"ADMIN_TELEGRAM_ID": "42"}, "admin_chat_id", "42"),
    ({"MAINTENANCE_MODE": "true"}, "maintenance_mode", True),
    ({"BOT_STATUS": "false"}, "maintenance_mode", True),
    ({"BOT_STATUS": "offline"}, "maintenance_mode", True),
    ({"BOT_STATUS": "true"}, "maintenance_mode", False),
    ({"BOT_STATUS": "TRUE "}, "maintenance_mode", False),   # the Node bot went offline on anything but 'true'
    ({"BOT_STATUS": "false", "MAINTENANCE_MODE": "false"}, "maintenance_mode", False),
    ({"SVG_CAPTCHA_ENABLED": "false"}, "captcha_enabled", True),     # no MINIAPP_URL: the image stands in
    ({"SVG_CAPTCHA_ENABLED": "false", "MINIAPP_URL": "https://x.example/miniapp/", "FINGERPRINT_SALT": "s"},
     "captcha_enabled", False),                                         # the slider alone, as in the Node bot
    ({"MINIAPP_CAPTCHA_ENABLED": "true", "MINIAPP_URL": "https://x.example/miniapp/", "FINGERPRINT_SALT": "s"},
     "miniapp_on", True),
    ({"SVG_CAPTCHA_ENABLED": "false", "MINIAPP_CAPTCHA_ENABLED": "false"}, "captcha_enabled", False),
    ({"MINIAPP_CAPTCHA_ENABLED": "false", "SVG_CAPTCHA_ENABLED": "true"}, "captcha_enabled", True),
    ({"SVG_CAPTCHA_ENABLED": "false", "MINIAPP_CAPTCHA_ENABLED": "false", "CAPTCHA_ENABLED": "true"},
     "captcha_enabled", True),
    ({"SPAM_WINDOW_MS": "30000", "SPAM_WARNING_COOLDOWN_MS": "60000"}, "spam_window_ms", 30000),
])
def test_node_bot_names_are_accepted(env, field, value):
    assert getattr(load(**env), field) == value


def test_alias_errors_name_the_botrunner_variable():
    with pytest.raises(ConfigError, match="MIN_WITHDRAW_POINTS='lots'"):
        load(MIN_WITHDRAWAL="lots")


def test_notices_list_unused_node_names_once_and_hint_misspellings():
    from botrunner.config.settings import config_notices
    lines = config_notices({"WALLETCONNECT_PROJECT_ID": "abc", "ADMIN_JWT_SECRET": "hunter2", "NODE_ENV": "x",
                            "WORKER": "3", "REDIS_PASWORD": "hunter2", "TRANSFER_REQUIRE_CONFIRMATION": "false",
                            "PATH": "/usr/bin", "HOME": "/home/x", "LANG": "C.UTF-8", "MIN_WITHDRAWAL": "5",
                            "BOT_STATUS": "true", "WORKERS": ""})
    assert lines[0] == "not used by botrunner: ADMIN_JWT_SECRET, NODE_ENV, WALLETCONNECT_PROJECT_ID"
    assert "WORKER is not a botrunner setting; did you mean WORKERS?" in lines
    assert "REDIS_PASWORD is not a botrunner setting; did you mean REDIS_PASSWORD?" in lines
    assert any(line.startswith("TRANSFER_REQUIRE_CONFIRMATION:") for line in lines)
    assert len(lines) == 4 and "hunter2" not in "".join(lines)
    miniapp = config_notices({"MINIAPP_CAPTCHA_URL": "https://old.example", "MINIAPP_URL": "https://x.example/m/",
                              "FINGERPRINT_SALT": "s", "MINIAPP_CAPTCHA_ENABLED": "true"})
    assert len(miniapp) == 1 and miniapp[0].startswith("MINIAPP_CAPTCHA_URL: botrunner serves the Mini App itself")


def test_cli_config_shows_the_notices_too(monkeypatch):
    monkeypatch.setenv("WORKRS", "3")
    result = CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "config"])
    assert result.exit_code == 0 and "did you mean WORKERS?" in result.stderr


def test_cli_start_logs_notices_once(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("NODE_ENV=production\nUSE_WEBHOOK=true\nWEBHOOK_URL=https://x.example/h\n"
                        "TELEGRAM_WEBHOOK_SECRET=abc\nWORKRS=2\n")
    result = CliRunner().invoke(cli.main, ["--env-file", str(env_file), "start"])
    assert result.exit_code == cli.EXIT_CONFIG      # refuses the webhook, after the notices
    assert result.stderr.count("not used by botrunner: NODE_ENV") == 1
    assert "did you mean WORKERS?" in result.stderr


@pytest.mark.parametrize("env, database", [
    ({"MONGODB_URL": "mongodb://m1/named", "BOT_TOKEN": TOKEN, "MONGODB_DB": "other"}, "named"),
    ({"MONGODB_URL": "mongodb://m1", "BOT_TOKEN": TOKEN, "MONGODB_DB": "other"}, "other"),
    ({"MONGODB_URL": "mongodb://m1/", "BOT_TOKEN": TOKEN}, "botrunner_123456"),
    ({"MONGODB_URL": "mongodb+srv://u:p@c.example/?retryWrites=true", "BOT_TOKEN": "777:x"}, "botrunner_777"),
    ({"MONGODB_URL": "mongodb://m1"}, "botrunner"),
])
def test_default_database_is_per_bot(env, database):
    assert load(**env).mongodb_database == database
