"""Mapping between records and MongoDB documents.

Records keep their id in `_id`. Times stay float epoch seconds (exact ordering, same values as
SQLite) except `expires_at`, stored as a BSON date because only real dates expire in TTL indexes.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, overload

from storage.records import T, from_mapping

if TYPE_CHECKING:
    from pymongo.cursor import Cursor

DATE_FIELDS = ("expires_at",)


def to_date(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def from_date(value: Any) -> Any:
    if isinstance(value, datetime):
        # PyMongo and mongomock hand back naive datetimes that are UTC
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return value


def to_doc(record: Any, id_field: str = "id", **extra: Any) -> dict[str, Any]:
    """The document for a record: its id field becomes `_id`; date fields become BSON dates."""
    doc = dataclasses.asdict(record)
    doc["_id"] = doc.pop(id_field)
    for name in DATE_FIELDS:
        if doc.get(name) is not None:
            doc[name] = to_date(doc[name])
    doc.update(extra)
    return doc


@overload
def to_record(cls: type[T], doc: Mapping[str, Any], id_field: str = "id") -> T: ...
@overload
def to_record(cls: type[T], doc: Mapping[str, Any] | None, id_field: str = "id") -> T | None: ...
def to_record(cls: type[T], doc: Mapping[str, Any] | None, id_field: str = "id") -> T | None:
    """The record of a document (None for no document): `_id` back to the id field, dates to epochs."""
    if doc is None:
        return None
    data = {k: from_date(v) for k, v in doc.items()}
    data[id_field] = data.pop("_id")
    return from_mapping(cls, data)


def page(cursor: Cursor[Any], limit: int, offset: int = 0) -> Cursor[Any]:
    """Apply offset/limit pagination to a cursor."""
    return cursor.skip(offset).limit(limit)
