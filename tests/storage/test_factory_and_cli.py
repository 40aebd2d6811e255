"""Building storage from Settings (as a worker does after fork), and `botrunner db init / stats`."""
from __future__ import annotations

import mongomock
from click.testing import CliRunner
from pymongo import ReadPreference

import cli
from botrunner.bot.context import Services
from storage import db_admin
from storage.factory import install, open_store, open_worker_storage
from storage.mongo.backend import MongoStore, connect


def test_worker_storage_from_settings(settings):
    storage = open_worker_storage(settings).start()
    try:
        assert storage.store.backend == "sqlite" and storage.store.path == settings.sqlite_file
        storage.store.users.register(1, "alice")
        assert storage.cache.get(1).username == "alice"
        assert storage.batcher.enabled and storage.batcher.size == settings.referral_batch_size
    finally:
        storage.close()


def test_install_registers_services_and_flush_hook(settings):
    services = Services()
    storage = install(services, settings)
    try:
        services.store.users.register(2, at=1.0)
        services.batcher.touch(2, at=5.0)
        services.flush()                          # what the worker runs before acknowledging
        assert services.users.get(2).last_active_at == 5.0
    finally:
        storage.close()


def test_mongo_store_chosen_by_client(settings):
    store = open_store(settings, mongo_client=mongomock.MongoClient())
    assert isinstance(store, MongoStore) and store.db.name == settings.mongodb_database


def run(args, tmp_path, redis_url):
    env = {"STATE_DIR": str(tmp_path / "state"), "REDIS_URL": redis_url}
    return CliRunner().invoke(cli.main, ["--env-file", str(tmp_path / "none.env"), *args], env=env)


def test_cli_db_init_is_idempotent_and_reports(tmp_path, redis_url):
    first = run(["db", "init"], tmp_path, redis_url)
    assert first.exit_code == 0, first.output
    assert "created table users" in first.output and "created index point_transactions.ledger_user_created" in first.output
    second = run(["db", "init"], tmp_path, redis_url)
    assert second.exit_code == 0 and "nothing to create" in second.output


def test_cli_db_stats(tmp_path, redis_url):
    run(["db", "init"], tmp_path, redis_url)
    result = run(["db", "stats"], tmp_path, redis_url)
    assert result.exit_code == 0, result.output
    assert "point_transactions" in result.output and "users.users_total_earned: total_earned DESC, id" in result.output


def test_db_admin_on_mongodb(settings, monkeypatch):
    client = mongomock.MongoClient()
    monkeypatch.setattr(db_admin, "open_store", lambda s: MongoStore(client, "botrunner"))
    first = list(db_admin.init_lines(settings))
    assert "  created collection users" in first and "  created index users.referral_code_unique" in first
    assert list(db_admin.init_lines(settings))[-1].endswith("every table/collection and index exists")
    stats = "\n".join(db_admin.stats_lines(settings))
    assert "users.total_earned_leaderboard: total_earned -1, _id 1, n/a" in stats


def test_mongo_client_options_and_collection_views():
    client = connect("mongodb://127.0.0.1:9/botrunner", max_pool_size=200, min_pool_size=20, timeout_ms=1500)
    try:
        options = client.options
        assert (options.pool_options.max_pool_size, options.pool_options.min_pool_size) == (200, 20)
        assert options.retry_writes and options.server_selection_timeout == 1.5
        store = MongoStore(client, "botrunner")
        assert store.money["point_transactions"].write_concern.document["w"] == "majority"
        assert store.plain["users"].write_concern.document.get("w") != "majority"
        assert store.reports["users"].read_preference == ReadPreference.SECONDARY_PREFERRED
        assert store.money["users"].read_preference == ReadPreference.PRIMARY
    finally:
        client.close()
