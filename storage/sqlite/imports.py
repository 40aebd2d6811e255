"""SQLite bulk import of records that carry their own ids (the Node bot migration's only write).

Invariant: a row whose id is already present is left untouched (insert-only, so a second run adds
nothing); a row that clashes on another unique value (referral code, wallet, user+task) is not
written and comes back with the reason, never silently dropped.
"""
from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from storage.records import username_key
from storage.sqlite.connection import SQLiteDatabase

#: table -> primary key column (every importable table is keyed by one column)
KEYS = {"users": "id", "referrals": "referred_id", "task_submissions": "id", "point_transactions": "id",
        "transfers": "id", "withdrawals": "id", "tickets": "id"}


def import_records(db: SQLiteDatabase, table: str, records: list[Any]) -> tuple[int, list[tuple[Any, str]]]:
    """Insert `records` into `table`, skipping ids already there; returns (inserted, rejected)."""
    if not records:
        return 0, []
    rows = [_row(table, r) for r in records]
    columns = list(rows[0])
    sql = (f"INSERT INTO {table} ({', '.join(_quoted(c) for c in columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)}) ON CONFLICT ({KEYS[table]}) DO NOTHING")
    values = [[row[c] for c in columns] for row in rows]
    try:
        with db.transaction() as tx:
            return tx.executemany(sql, values), []
    except sqlite3.IntegrityError:
        return _one_by_one(db, sql, records, values)


def _one_by_one(db: SQLiteDatabase, sql: str, records: list[Any], values: list[list[Any]]) -> tuple[int, list[tuple[Any, str]]]:
    inserted, rejected = 0, []
    with db.transaction() as tx:
        for record, row in zip(records, values):
            try:
                inserted += tx.execute(sql, row).rowcount
            except sqlite3.IntegrityError as exc:
                rejected.append((record, f"clashes with an existing row ({exc})"))
    return inserted, rejected


def _row(table: str, record: Any) -> dict[str, Any]:
    row = {k: (int(v) if isinstance(v, bool) else v) for k, v in dataclasses.asdict(record).items()}
    if table == "users":
        row["username_lc"] = username_key(str(row["username"]))
    return row


def _quoted(column: str) -> str:
    return f'"{column}"'
