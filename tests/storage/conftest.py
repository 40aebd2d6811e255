"""Storage fixtures: the same `store` fixture over SQLite (a real file) and MongoDB (mongomock, or a
real server for tests marked `mongodb` when MONGODB_URL is set)."""
from __future__ import annotations

import os
import uuid

import mongomock
import mongomock.collection
import pytest

from storage.mongo_backend import MongoStore, connect
from storage.sqlite_backend import SQLiteStore


def _accept_newer_pymongo_arguments() -> None:
    """mongomock 4.3's bulk builder predates PyMongo 4.9's `sort=` on UpdateOne: accept and ignore it,
    so the production code path (bulk_write) runs unchanged under test."""
    builder = mongomock.collection.BulkOperationBuilder
    if getattr(builder.add_update, "_accepts_sort", False):
        return
    original = builder.add_update

    def add_update(self, selector, doc, multi=False, upsert=False, collation=None, array_filters=None,
                   hint=None, sort=None, **_ignored):
        return original(self, selector, doc, multi=multi, upsert=upsert, collation=collation,
                        array_filters=array_filters, hint=hint)
    add_update._accepts_sort = True
    builder.add_update = add_update


_accept_newer_pymongo_arguments()

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
