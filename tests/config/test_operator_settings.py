"""Settings an operator gets wrong: hosts with inline comments, relative STATE_DIR, settings not built yet."""
from __future__ import annotations

from pathlib import Path

import pytest

from botrunner.config.reference import reference_markdown
from botrunner.config.settings import load_settings, options
from botrunner.errors import ConfigError
from botrunner.tools.env_file import systemd_mismatches, systemd_values
from botrunner.tools.preflight import run_checks


def load(**env: str):
    return load_settings(environ=env, env_file=None)


@pytest.mark.parametrize("value", ["127.0.0.1", "redis.internal", "redis-1.prod.example.org", "::1", "fd00::5",
                                   "[fd00::5]", "localhost"])
def test_valid_redis_hosts(value):
    assert load(REDIS_HOST=value).redis_host == value


@pytest.mark.parametrize("value", ["127.0.0.1   # master", "redis host", "redis://10.0.0.5", "10.0.0.5:6379"])
def test_invalid_redis_hosts_are_one_line(value):
    with pytest.raises(ConfigError) as err:
        load(REDIS_HOST=value)
    assert str(err.value).startswith(f"REDIS_HOST={value!r} is invalid: expected a host name or IP address")
    assert "\n" not in str(err.value)


def test_an_inline_comment_is_named_as_the_likely_cause():
    with pytest.raises(ConfigError) as err:
        load(REDIS_HOST="127.0.0.1   # master")
    assert "systemd's EnvironmentFile= keeps everything after '='" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load(WORKERS="4 # one per core")
    assert "an inline comment?" in str(err.value)


def test_urls_with_spaces_are_refused():
    with pytest.raises(ConfigError) as err:
        load(REDIS_URL="redis://10.0.0.5:6379   # shared")
    assert "expected a URL without spaces" in str(err.value)


def test_state_dir_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load(STATE_DIR="./var")
    assert s.state_path == tmp_path / "var" and s.state_path.is_absolute()
    assert s.sqlite_file == str(tmp_path / "var" / "botrunner.sqlite3")
    assert s.embedded_redis_socket == str(tmp_path / "var" / "redis" / "redis.sock")
    state = {r.name: r for r in run_checks(s)}["state directory"]
    assert state.ok and state.detail.startswith(str(tmp_path / "var")) and "relative" in state.detail


def test_settings_that_do_nothing_yet_are_marked_in_the_reference():
    text = reference_markdown()
    not_built = [f.metadata["env"] for f in options() if not f.metadata["built"]]
    # the Mini App's limits were parsed before the Mini App existed, like WEBHOOK_RESPONSE_TIMEOUT_MS before webhooks
    assert not {"MINIAPP_RATE_LIMIT_MAX", "MINIAPP_MAX_CONNECTIONS", "WEBHOOK_RESPONSE_TIMEOUT_MS"} & set(not_built)
    for line in text.splitlines():
        if line.startswith("| `"):
            name = line.split("`")[1]
            assert ("Not built yet" in line) == (name in not_built), line


def test_poll_timeout_cap_is_documented_where_it_is_set():
    line = next(x for x in reference_markdown().splitlines() if x.startswith("| `POLL_TIMEOUT_S`"))
    assert "half" in line and "POLL_LEASE_TTL_MS" in line


ENV_FILE = """# comment line with 'an odd quote
BOT_TOKEN=123:abc
REDIS_HOST=127.0.0.1   # master
WORKERS=4
BOT_NAME="Airdrop Bot"
; another comment
LOG_LEVEL=info
"""


def test_env_file_as_systemd_reads_it(tmp_path: Path):
    path = tmp_path / "botrunner.env"
    path.write_text(ENV_FILE)
    values = systemd_values(path)
    assert values == {"BOT_TOKEN": "123:abc", "REDIS_HOST": "127.0.0.1   # master", "WORKERS": "4",
                      "BOT_NAME": "Airdrop Bot", "LOG_LEVEL": "info"}
    problems = systemd_mismatches(path)
    assert len(problems) == 1 and problems[0].startswith("REDIS_HOST: systemd reads '127.0.0.1   # master', "
                                                         "--env-file reads '127.0.0.1'")


def test_secrets_are_not_shown_in_env_file_mismatches(tmp_path: Path):
    path = tmp_path / "botrunner.env"
    path.write_text("REDIS_PASSWORD=hunter2   # vault\n")
    problems = systemd_mismatches(path)
    assert problems and "hunter2" not in " ".join(problems) and "(secret, not shown)" in problems[0]


def test_check_fails_on_an_env_file_systemd_reads_differently(tmp_path: Path):
    path = tmp_path / "botrunner.env"
    path.write_text(ENV_FILE)
    s = load_settings(environ={"STATE_DIR": str(tmp_path)}, env_file=str(path))
    assert s.redis_host == "127.0.0.1"           # --env-file strips the comment: the old check passed
    result = {r.name: r for r in run_checks(s, env_file=str(path))}["env file"]
    assert not result.ok and "REDIS_HOST" in result.detail
