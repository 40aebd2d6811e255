"""MongoDB bulk import of records that carry their own ids (the Node bot migration's only write).

Invariant: as for SQLite, insert-only by `_id` (`$setOnInsert` upserts, so a second run changes
nothing), and a document that clashes on another unique index comes back with the reason.
"""
from __future__ import annotations

from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from storage.mongo.documents import to_doc
from storage.mongo.money import MongoStoreView
from storage.records import username_key

#: table -> the record field that becomes `_id`
KEYS = {"users": "id", "referrals": "referred_id", "task_submissions": "id", "point_transactions": "id",
        "transfers": "id", "withdrawals": "id", "tickets": "id"}


def import_records(store: MongoStoreView, table: str, records: list[Any]) -> tuple[int, list[tuple[Any, str]]]:
    """Insert `records` into `table`, skipping ids already there; returns (inserted, rejected)."""
    if not records:
        return 0, []
    ops = []
    for record in records:
        doc = _doc(table, record)
        ops.append(UpdateOne({"_id": doc.pop("_id")}, {"$setOnInsert": doc}, upsert=True))
    try:
        return store.money[table].bulk_write(ops, ordered=False).upserted_count, []
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        rejected = [(records[e["index"]], f"clashes with an existing row ({e.get('errmsg', e.get('code'))})")
                    for e in errors]
        return exc.details.get("nUpserted", 0), rejected


def _doc(table: str, record: Any) -> dict[str, Any]:
    if table == "users":
        return to_doc(record, username_lc=username_key(record.username), pending=[], recent=[])
    return to_doc(record, KEYS[table])
