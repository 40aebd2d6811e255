"""Storage fixtures: the same `store` fixture over SQLite (a real file) and MongoDB (mongomock, or a
real server for tests marked `mongodb` when MONGODB_URL is set)."""
from __future__ import annotations

import os
import uuid

import mongomock
import pytest

from storage.mongo.backend import MongoStore, connect
from storage.sqlite.backend import SQLiteStore
from tests.storage.mongomock_compat import accept_newer_pymongo_arguments

accept_newer_pymongo_arguments()

MONGODB_URL = os.environ.get("MONGODB_URL", "")


def make_store(kind: str, tmp_path):
    if kind == "sqlite":
        store = SQLiteStore(str(tmp_path / "store.sqlite3"))
    elif kind == "mongomock":
        store = MongoStore(mongomock.MongoClient(), "botrunner_test")
    else:
        store = MongoStore(connect(MONGODB_URL, max_pool_size=20, min_pool_size=0), f"botrunner_test_{uuid.uuid4().hex[:8]}")
    store.init_schema()
    return store


BACKENDS = ["sqlite", "mongomock", pytest.param("mongodb", marks=[
    pytest.mark.mongodb, pytest.mark.skipif(not MONGODB_URL, reason="MONGODB_URL is not set")])]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """A fresh store with its schema, on each backend."""
    store = make_store(request.param, tmp_path)
    yield store
    if request.param == "mongodb":
        store.client.drop_database(store.db.name)
    store.close()
