"""mongomock 4.3 next to PyMongo >= 4.9 (used by the storage tests and benchmarks/storage_bench.py)."""
from __future__ import annotations

import mongomock.collection


def accept_newer_pymongo_arguments() -> None:
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


def interleave_like_a_server(monkeypatch) -> None:
    """Make every mongomock collection call give up the GIL before it runs, as a pymongo call does while
    it waits for the server: threads then interleave between calls the way they do against MongoDB."""
    import time

    from mongomock.collection import Collection

    for name in ("find", "find_one", "find_one_and_update", "update_one", "update_many", "insert_one",
                 "insert_many", "delete_one", "bulk_write", "aggregate", "count_documents"):
        original = getattr(Collection, name)

        def yielding(self, *args, __original=original, **kwargs):
            time.sleep(0.0001)
            return __original(self, *args, **kwargs)
        monkeypatch.setattr(Collection, name, yielding)
