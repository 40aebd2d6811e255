"""MongoDB replica sets: the deployment guide's URLs work unchanged; retryable writes are always on;
the ledger and every money collection are written w=majority and read on the primary whatever the
URL says; only leaderboards and statistics read secondaryPreferred. Checked on PyMongo clients
(options, no server needed) and on mongomock (which calls reach which view); the marked suite
checks a real replica set when MONGODB_URL names one."""
from __future__ import annotations

import os
import uuid

import mongomock
import pytest
from pymongo import ReadPreference

from botrunner.config.settings import load_settings
from botrunner.errors import ConfigError
from storage.factory import open_store
from storage.mongo.backend import MongoStore, connect
from tests.storage.mongomock_compat import accept_newer_pymongo_arguments

accept_newer_pymongo_arguments()

# both replica-set URLs of the deployment guide, as written there
GUIDE_URL = ("mongodb://user:pass@host1:27017,host2:27017,host3:27017/dbname?replicaSet=rs0&retryWrites=true"
             "&w=majority")
GUIDE_URL_SHORT = "mongodb://user:pass@primary:27017,secondary1:27017,secondary2:27017/dbname?replicaSet=rs0"
MONGODB_URL = os.environ.get("MONGODB_URL", "")


@pytest.mark.parametrize("url", [GUIDE_URL, GUIDE_URL_SHORT])
def test_the_guides_replica_set_urls_work_unchanged(url, tmp_path):
    settings = load_settings(environ={"MONGODB_URL": url, "STATE_DIR": str(tmp_path)}, env_file=None)
    assert settings.mongodb_database == "dbname"
    store = open_store(settings)                       # PyMongo connects lazily: no server needed here
    try:
        options = store.client.options
        assert options.replica_set_name == "rs0" and options.retry_writes
        assert store.db.name == "dbname"
        _assert_views(store)
    finally:
        store.close()


def test_what_a_url_says_cannot_weaken_the_ledger_or_move_its_reads():
    client = connect("mongodb://h1,h2,h3/db?replicaSet=rs0&w=1&readPreference=secondary&retryWrites=false",
                     timeout_ms=500)
    try:
        assert client.options.retry_writes            # an election mid-write is retried, never reported as failed
        store = MongoStore(client, "db")
        _assert_views(store)
        assert store.plain["users"].write_concern.document.get("w") == 1      # the URL's, for the rest
    finally:
        client.close()


def test_unacknowledged_writes_are_refused_at_start():
    with pytest.raises(ConfigError, match="MONGODB_URL=.*w=0"):
        load_settings(environ={"MONGODB_URL": "mongodb://u:secret@h1,h2/db?replicaSet=rs0&w=0"}, env_file=None)


class Spy:
    """Records which methods were called on a wrapped collection."""

    def __init__(self, collection, calls: list, view: str) -> None:
        self._collection, self._calls, self._view = collection, calls, view

    def __getattr__(self, name):
        self._calls.append((self._view, name))
        return getattr(self._collection, name)


def _spied_store() -> tuple[MongoStore, list]:
    calls: list = []
    store = MongoStore(mongomock.MongoClient(), f"rs_{uuid.uuid4().hex[:6]}")
    store.init_schema()
    for view in ("plain", "money", "reports"):
        for counted in getattr(store, view).values():
            counted._collection = Spy(counted._collection, calls, view)
    return store, calls


def test_the_ledger_is_written_through_the_majority_view():
    store, calls = _spied_store()
    store.users.register(1, "alice")
    calls.clear()
    store.points.credit(1, 10, "award")
    touched = {view for view, _ in calls}
    assert touched == {"money"}, calls


def test_leaderboards_and_statistics_read_through_the_secondary_preferred_view():
    store, calls = _spied_store()
    for user_id in (1, 2):
        store.users.register(user_id, f"u{user_id}")
    store.points.credit(2, 10, "award")
    calls.clear()
    assert [u.id for u in store.users.top_by_total_earned(10)][:1] == [2]
    assert store.users.count() == 2
    store.users.top_by_referrals(10)
    store.points.totals()
    assert calls and {view for view, _ in calls} == {"reports"}, calls
    calls.clear()
    assert store.users.rank_by_total_earned(1) == 2     # the user's own row fresh, the counting on a secondary
    assert ("reports", "count_documents") in calls and set(calls) <= {("plain", "find_one"), ("reports", "count_documents")}


def _assert_views(store: MongoStore) -> None:
    for name in ("point_transactions", "users", "transfers", "withdrawals", "referrals"):
        assert store.money[name].write_concern.document["w"] == "majority"
        assert store.money[name].read_preference == ReadPreference.PRIMARY
        assert store.plain[name].read_preference == ReadPreference.PRIMARY
        assert store.reports[name].read_preference == ReadPreference.SECONDARY_PREFERRED


@pytest.mark.mongodb
@pytest.mark.skipif(not MONGODB_URL, reason="MONGODB_URL is not set (no MongoDB server can be installed here)")
def test_a_real_replica_set_takes_majority_ledger_writes():
    store = MongoStore(connect(MONGODB_URL, max_pool_size=5, min_pool_size=0), f"botrunner_rs_{uuid.uuid4().hex[:8]}")
    try:
        store.init_schema()
        store.users.register(1, "alice")
        hello = store.client.admin.command("hello")
        if "setName" not in hello:
            pytest.skip("MONGODB_URL names a standalone server, not a replica set")
        store.points.credit(1, 10, "award")
        assert store.money["point_transactions"].count_documents({"user_id": 1}) >= 1
    finally:
        store.client.drop_database(store.db.name)
        store.close()


@pytest.mark.parametrize("url", ["mongodb://h1:27017,h2:27017/db?replicaSet=rs0", "mongodb://u:p@[::1]:27017,h2/db",
                                 "mongodb+srv://u:p@cluster0.example.net/?retryWrites=true", "mongodb://localhost"])
def test_replica_set_and_srv_urls_are_accepted(url):
    assert load_settings(environ={"MONGODB_URL": url}, env_file=None).mongodb_url == url


@pytest.mark.parametrize("url", ["mongodb://h1:abc/db", "mongodb://h1:27017,h2:99999/db", "mongodb://h1:,h2/db",
                                 "http://h1/db", "mongodb://"])
def test_a_malformed_member_list_is_a_one_line_error(url):
    with pytest.raises(ConfigError, match="MONGODB_URL=.*mongodb://"):
        load_settings(environ={"MONGODB_URL": url}, env_file=None)
