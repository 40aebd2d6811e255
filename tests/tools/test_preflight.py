"""`botrunner check`: each check reports success or its failure as one line, and never raises."""
from __future__ import annotations

from botrunner.config.settings import load_settings
from botrunner.tools.preflight import run_checks


def by_name(settings):
    return {r.name: r for r in run_checks(settings)}


def test_reachable_redis_and_sqlite(settings):
    results = by_name(settings)
    assert results["redis"].ok and "redis 6." in results["redis"].detail
    assert results["database"].ok and "SQLite" in results["database"].detail
    assert results["state directory"].ok


def test_dead_redis_is_a_failure_not_a_crash(tmp_path):
    s = load_settings(environ={"STATE_DIR": str(tmp_path), "REDIS_URL": f"unix://{tmp_path}/none.sock"},
                      env_file=None)
    result = by_name(s)["redis"]
    assert not result.ok and result.detail.startswith(f"cannot reach Redis at unix://{tmp_path}/none.sock")


def test_unusable_state_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    s = load_settings(environ={"STATE_DIR": str(blocker / "state")}, env_file=None)
    results = by_name(s)
    assert not results["state directory"].ok
    assert not results["database"].ok


def test_missing_token_against_telegram_is_reported(tmp_path):
    s = load_settings(environ={"STATE_DIR": str(tmp_path)}, env_file=None)
    result = by_name(s)["bot api"]
    assert not result.ok and "BOT_TOKEN is not set" in result.detail


def test_embedded_redis_is_announced(tmp_path):
    s = load_settings(environ={"STATE_DIR": str(tmp_path)}, env_file=None)
    result = by_name(s)["redis"]
    assert result.ok and "embedded redis-server" in result.detail and "REDIS_URL" in result.detail


def test_bot_api_check_calls_getme_on_the_local_server(tmp_path):
    from botrunner.emulator import running_emulator
    with running_emulator(port=0) as emu:
        env = {"STATE_DIR": str(tmp_path), "TELEGRAM_API_URL": emu.url}
        ok = by_name(load_settings(environ={**env, "BOT_TOKEN": "4242:check-token"}, env_file=None))["bot api"]
        assert ok.ok and "(id 4242)" in ok.detail and emu.url in ok.detail
        tokenless = by_name(load_settings(environ=env, env_file=None))["bot api"]
        assert tokenless.ok and "getMe skipped" in tokenless.detail
        emu_faults = emu.control()
        emu_faults.add_fault("getMe", error_code=401, description="Unauthorized")
        rejected = by_name(load_settings(environ={**env, "BOT_TOKEN": "4242:check-token"}, env_file=None))["bot api"]
        emu_faults.close()
        assert not rejected.ok and "getMe failed: 401 Unauthorized" in rejected.detail
