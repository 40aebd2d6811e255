"""SQLite broadcasts: a page is claimed (pending rows inserted, cursor moved) in one transaction, and
outcomes are written together with the counters, so counters and rows always agree."""
from __future__ import annotations

from typing import Any

from storage.base import BroadcastRepository
from storage.broadcast_records import (
    COUNTERS,
    DAY_S,
    TRANSITIONS,
    Broadcast,
    Message,
    Recipient,
    Segment,
    message_from_json,
    message_to_json,
)
from storage.records import from_mapping, new_id, now
from storage.sqlite.connection import SQLiteStoreView


def segment_where(segment: Segment, at: float) -> tuple[str, list[Any]]:
    """The users WHERE clause (and its arguments) of a segment."""
    clauses, args = ["blocked_bot = 0", "banned = 0"], list[Any]()
    flags = {"verified": "captcha_passed = 1", "premium": "is_premium = 1",
             "with_wallet": "wallet_address IS NOT NULL AND wallet_address != ''",
             "with_referrals": "referral_count >= 1"}
    clauses += [sql for name, sql in flags.items() if getattr(segment, name)]
    for value, sql in ((segment.points_min, "points >= ?"), (segment.points_max, "points <= ?"),
                       (segment.language or None, "language_code = ?")):
        if value is not None:
            clauses.append(sql)
            args.append(value)
    if segment.active_days is not None:
        clauses.append("last_active_at >= ?")
        args.append(at - segment.active_days * DAY_S)
    if segment.ids:
        clauses.append(f"id IN ({', '.join('?' for _ in segment.ids)})")
        args += list(segment.ids)
    return " AND ".join(clauses), args


def _record(row: dict[str, Any]) -> Broadcast:
    data = dict(row)
    data["message"] = message_from_json(data["message"])
    data["segment"] = Segment.from_json(data["segment"])
    return from_mapping(Broadcast, data)


class SQLiteBroadcasts(BroadcastRepository):
    def __init__(self, store: SQLiteStoreView) -> None:
        self.db = store.db

    def create(self, message: Message, segment: Segment, created_by: int, at: float | None = None) -> Broadcast:
        at = at or now()
        broadcast_id = new_id()
        self.db.execute("INSERT INTO broadcasts (id, message, segment, created_by, status, total, created_at, "
                        "updated_at) VALUES (?, ?, ?, ?, 'draft', ?, ?, ?)",
                        (broadcast_id, message_to_json(message), segment.to_json(), created_by,
                         self.count_segment(segment), at, at))
        created = self.get(broadcast_id)
        assert created is not None
        return created

    def get(self, broadcast_id: str) -> Broadcast | None:
        row = self.db.query_one("SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,))
        return _record(row) if row else None

    def history(self, limit: int = 20, offset: int = 0, status: str | None = None) -> list[Broadcast]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self.db.query(f"SELECT * FROM broadcasts {where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                             (*args, limit, offset))
        return [_record(r) for r in rows]

    def history_page(self, before: tuple[float, str] | None, limit: int) -> list[Broadcast]:
        where, args = ("WHERE created_at < ? OR (created_at = ? AND id < ?)", [before[0], before[0], before[1]]) \
            if before else ("", [])
        rows = self.db.query(f"SELECT * FROM broadcasts {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                             (*args, limit))
        return [_record(r) for r in rows]

    def set_status(self, broadcast_id: str, status: str, at: float | None = None) -> Broadcast | None:
        at = at or now()
        sources = [s for s, targets in TRANSITIONS.items() if status in targets]
        if not sources:
            return None
        with self.db.transaction() as tx:
            row = tx.one("SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,))
            if row is None or row["status"] not in sources:
                return None
            sets, args = ["status = ?", "updated_at = ?"], [status, at]
            if status == "running" and row["started_at"] is None:
                where, where_args = segment_where(Segment.from_json(row["segment"]), at)
                total = tx.one(f"SELECT COUNT(*) AS n FROM users WHERE {where}", where_args)
                sets += ["started_at = ?", "total = ?"]
                args += [at, total["n"] if total else 0]
            if status in ("done", "cancelled"):
                sets.append("finished_at = ?")
                args.append(at)
            tx.execute(f"UPDATE broadcasts SET {', '.join(sets)} WHERE id = ?", (*args, broadcast_id))
        return self.get(broadcast_id)

    def count_segment(self, segment: Segment) -> int:
        where, args = segment_where(segment, now())
        return self.db.scalar(f"SELECT COUNT(*) FROM users WHERE {where}", args)

    def claim_page(self, broadcast_id: str, limit: int, at: float | None = None) -> list[int] | None:
        at = at or now()
        with self.db.transaction() as tx:
            row = tx.one("SELECT segment, cursor FROM broadcasts WHERE id = ?", (broadcast_id,))
            if row is None:
                return None
            where, args = segment_where(Segment.from_json(row["segment"]), at)
            ids = [r[0] for r in tx.execute(f"SELECT id FROM users WHERE {where} AND id > ? ORDER BY id LIMIT ?",
                                            (*args, row["cursor"], limit)).fetchall()]
            if not ids:
                return None
            existing = {r[0] for r in tx.execute("SELECT user_id FROM broadcast_recipients WHERE broadcast_id = ? "
                                                 "AND user_id BETWEEN ? AND ?", (broadcast_id, ids[0], ids[-1]))}
            fresh = [i for i in ids if i not in existing]
            tx.executemany("INSERT INTO broadcast_recipients (broadcast_id, user_id, status, at) "
                           "VALUES (?, ?, 'pending', ?)", [(broadcast_id, i, at) for i in fresh])
            tx.execute("UPDATE broadcasts SET cursor = ?, updated_at = ? WHERE id = ?", (ids[-1], at, broadcast_id))
        return fresh

    def finish(self, broadcast_id: str, outcomes: list[tuple[int, str, str]], at: float | None = None) -> None:
        at = at or now()
        counts = dict.fromkeys(COUNTERS, 0)
        with self.db.transaction() as tx:
            for user_id, status, reason in outcomes:
                if status not in counts:
                    raise ValueError(f"not a final recipient status: {status!r}")
                changed = tx.execute("UPDATE broadcast_recipients SET status = ?, reason = ?, at = ? WHERE "
                                     "broadcast_id = ? AND user_id = ? AND status = 'pending'",
                                     (status, reason[:500], at, broadcast_id, user_id)).rowcount
                counts[status] += changed
            tx.execute(f"UPDATE broadcasts SET {', '.join(f'{c} = {c} + ?' for c in COUNTERS)}, updated_at = ? "
                       "WHERE id = ?", (*counts.values(), at, broadcast_id))

    def settle_in_doubt(self, broadcast_id: str, at: float | None = None) -> int:
        at = at or now()
        with self.db.transaction() as tx:
            doubtful = tx.execute("UPDATE broadcast_recipients SET status = 'skipped', reason = ?, at = ? WHERE "
                                  "broadcast_id = ? AND status = 'pending'",
                                  ("in doubt: its sender stopped mid-send", at, broadcast_id)).rowcount
            counts = {r[0]: r[1] for r in tx.execute(
                "SELECT status, COUNT(*) FROM broadcast_recipients WHERE broadcast_id = ? GROUP BY status",
                (broadcast_id,)).fetchall()}
            tx.execute(f"UPDATE broadcasts SET {', '.join(f'{c} = ?' for c in COUNTERS)}, retrying = ?, "
                       "updated_at = ? WHERE id = ?",
                       (*(counts.get(c, 0) for c in COUNTERS), counts.get("retry", 0), at, broadcast_id))
        return doubtful

    def defer(self, broadcast_id: str, rows: list[tuple[int, float, str]], at: float | None = None) -> int:
        at = at or now()
        with self.db.transaction() as tx:
            deferred = sum(tx.execute("UPDATE broadcast_recipients SET status = 'retry', at = ?, reason = ?, "
                                      "tries = tries + 1 WHERE broadcast_id = ? AND user_id = ? AND status = 'pending'",
                                      (not_before, reason[:500], broadcast_id, user_id)).rowcount
                           for user_id, not_before, reason in rows)
            tx.execute("UPDATE broadcasts SET retrying = retrying + ?, updated_at = ? WHERE id = ?",
                       (deferred, at, broadcast_id))
        return deferred

    def claim_retries(self, broadcast_id: str, limit: int, at: float | None = None) -> list[tuple[int, int]]:
        at = at or now()
        with self.db.transaction() as tx:
            due = [(r[0], r[1]) for r in tx.execute(
                "SELECT user_id, tries FROM broadcast_recipients WHERE broadcast_id = ? AND status = 'retry' "
                "AND at <= ? ORDER BY user_id LIMIT ?", (broadcast_id, at, limit)).fetchall()]
            tx.executemany("UPDATE broadcast_recipients SET status = 'pending', at = ? WHERE broadcast_id = ? "
                           "AND user_id = ?", [(at, broadcast_id, user_id) for user_id, _ in due])
            tx.execute("UPDATE broadcasts SET retrying = retrying - ?, updated_at = ? WHERE id = ?",
                       (len(due), at, broadcast_id))
        return due

    def next_retry(self, broadcast_id: str) -> float | None:
        return self.db.scalar("SELECT MIN(at) FROM broadcast_recipients WHERE broadcast_id = ? AND status = 'retry'",
                              (broadcast_id,))

    def recipient(self, broadcast_id: str, user_id: int) -> Recipient | None:
        row = self.db.query_one("SELECT * FROM broadcast_recipients WHERE broadcast_id = ? AND user_id = ?",
                                (broadcast_id, user_id))
        return from_mapping(Recipient, row) if row else None

    def recipients(self, broadcast_id: str, status: str, after: int = 0, limit: int = 100) -> list[Recipient]:
        rows = self.db.query("SELECT * FROM broadcast_recipients WHERE broadcast_id = ? AND status = ? AND "
                             "user_id > ? ORDER BY user_id LIMIT ?", (broadcast_id, status, after, limit))
        return [from_mapping(Recipient, r) for r in rows]
