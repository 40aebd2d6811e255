"""SQLite points: every change is one guarded UPDATE plus its ledger row, in one IMMEDIATE transaction.

`apply_move` is the only code that changes users.points; referral and task rewards call it inside
their own transactions so the reward, its ledger row and the state flip commit together.
"""
from __future__ import annotations

import enum
from typing import Final, Literal

from storage.base import PointsRepository, check_amount, check_transfer, credited_balance
from storage.records import (
    NOT_EARNED,
    LedgerEntry,
    NotFoundError,
    Transfer,
    Withdrawal,
    from_mapping,
    keyed_id,
    new_id,
    now,
)
from storage.sqlite.connection import SQLiteStoreView, Transaction


class Applied(enum.Enum):
    """apply_move's answer for a ledger key used before (the move was made then; nothing changed now)."""

    ALREADY = "already applied"


ALREADY_APPLIED: Final = Applied.ALREADY


def apply_move(tx: Transaction, user_id: int, amount: int, kind: str, reference: str = "",
               key: str | None = None, extra_sql: str = "") -> int | None | Literal[Applied.ALREADY]:
    """Change one balance by `amount` and append the ledger row, inside `tx`.

    Returns the new balance; None if a debit would overdraw; ALREADY_APPLIED if `key` was used
    before. Raises NotFoundError for an unknown user. `extra_sql` adds assignments to the UPDATE.
    """
    if key is not None and tx.one("SELECT 1 AS x FROM point_transactions WHERE id = ?", (key,)):
        return ALREADY_APPLIED
    earned = amount if amount > 0 and kind not in NOT_EARNED else 0
    extra = f", {extra_sql}" if extra_sql else ""
    # the WHERE guard makes the check and the change one statement: no read-modify-write
    row = tx.one(f"UPDATE users SET points = points + ?, total_earned = total_earned + ?{extra} "
                 "WHERE id = ? AND points + ? >= 0 RETURNING points", (amount, earned, user_id, amount))
    if row is None:
        if tx.one("SELECT 1 AS x FROM users WHERE id = ?", (user_id,)) is None:
            raise NotFoundError(f"user {user_id} does not exist")
        return None
    tx.execute("INSERT INTO point_transactions (id, user_id, amount, kind, reference, balance_after, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)", (key or new_id(), user_id, amount, kind, reference, row["points"], now()))
    return row["points"]


class SQLitePoints(PointsRepository):
    """Balances, ledger, transfers and withdrawals on SQLite."""

    def __init__(self, store: SQLiteStoreView) -> None:
        self.store = store
        self.db = store.db

    def balance(self, user_id: int) -> int | None:
        return self.db.scalar("SELECT points FROM users WHERE id = ?", (user_id,))

    def credit(self, user_id: int, amount: int, kind: str, reference: str = "", key: str | None = None) -> int:
        check_amount(amount)
        return credited_balance(user_id, self._move(user_id, amount, kind, reference, key))

    def debit_if_enough(self, user_id: int, amount: int, kind: str, reference: str = "",
                        key: str | None = None) -> int | None:
        check_amount(amount)
        return self._move(user_id, -amount, kind, reference, key)

    def _move(self, user_id: int, amount: int, kind: str, reference: str, key: str | None) -> int | None:
        with self.db.transaction() as tx:
            result = apply_move(tx, user_id, amount, kind, reference, key)
        if result is ALREADY_APPLIED:
            return self.balance(user_id)
        if result is not None:
            self.store.users_changed([user_id])
        return result

    def transfer(self, sender_id: int, receiver_id: int, amount: int, fee: int = 0,
                 key: str | None = None) -> Transfer | None:
        check_transfer(sender_id, receiver_id, amount, fee)
        record = Transfer(keyed_id(key) if key else new_id(), sender_id, receiver_id, amount, fee, amount - fee, now())
        with self.db.transaction() as tx:
            done = tx.one("SELECT * FROM transfers WHERE id = ?", (record.id,)) if key else None
            if done is not None:
                return from_mapping(Transfer, done)       # the same key again: the first call's transfer
            if tx.one("SELECT 1 AS x FROM users WHERE id = ?", (receiver_id,)) is None:
                raise NotFoundError(f"user {receiver_id} does not exist")
            if apply_move(tx, sender_id, -amount, "transfer_out", record.id) is None:
                return None
            apply_move(tx, receiver_id, record.net, "transfer_in", record.id)
            tx.execute("INSERT INTO transfers (id, sender_id, receiver_id, amount, fee, net, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (record.id, sender_id, receiver_id, amount, fee,
                                                        record.net, record.created_at))
        self.store.users_changed([sender_id, receiver_id])
        return record

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        row = self.db.query_one("SELECT * FROM transfers WHERE id = ?", (transfer_id,))
        return from_mapping(Transfer, row) if row else None

    def transfers_for(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Transfer]:
        rows = self.db.query("SELECT * FROM transfers WHERE sender_id = ? OR receiver_id = ? "
                             "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", (user_id, user_id, limit, offset))
        return [from_mapping(Transfer, r) for r in rows]

    def sent_since(self, sender_id: int, since: float) -> tuple[int, int]:
        row = self.db.query("SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM transfers "   # always one row
                            "WHERE sender_id = ? AND created_at >= ?", (sender_id, since))[0]
        return row["n"], row["total"]

    def create_withdrawal(self, user_id: int, amount: int, address: str,
                          key: str | None = None) -> Withdrawal | None:
        check_amount(amount)
        record = Withdrawal(keyed_id(key) if key else new_id(), user_id, amount, address, "pending", now())
        with self.db.transaction() as tx:
            done = tx.one("SELECT * FROM withdrawals WHERE id = ?", (record.id,)) if key else None
            if done is not None:
                return from_mapping(Withdrawal, done)
            if apply_move(tx, user_id, -amount, "withdrawal", record.id) is None:
                return None
            tx.execute("INSERT INTO withdrawals (id, user_id, amount, address, status, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (record.id, user_id, amount, address, "pending", record.created_at))
        self.store.users_changed([user_id])
        return record

    def get_withdrawal(self, withdrawal_id: str) -> Withdrawal | None:
        row = self.db.query_one("SELECT * FROM withdrawals WHERE id = ?", (withdrawal_id,))
        return from_mapping(Withdrawal, row) if row else None

    def withdrawals_for(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Withdrawal]:
        rows = self.db.query("SELECT * FROM withdrawals WHERE user_id = ? ORDER BY created_at DESC, id DESC "
                             "LIMIT ? OFFSET ?", (user_id, limit, offset))
        return [from_mapping(Withdrawal, r) for r in rows]

    def list_withdrawals(self, status: str = "pending", limit: int = 20, offset: int = 0) -> list[Withdrawal]:
        rows = self.db.query("SELECT * FROM withdrawals WHERE status = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
                             (status, limit, offset))
        return [from_mapping(Withdrawal, r) for r in rows]

    def count_withdrawals(self, status: str = "pending") -> int:
        return self.db.scalar("SELECT COUNT(*) FROM withdrawals WHERE status = ?", (status,))

    def mark_withdrawal_paid(self, withdrawal_id: str, tx_hash: str = "") -> bool:
        return self.db.execute("UPDATE withdrawals SET status = 'paid', tx_hash = ?, settled_at = ? "
                               "WHERE id = ? AND status = 'pending'", (tx_hash, now(), withdrawal_id)) == 1

    def mark_withdrawal_failed(self, withdrawal_id: str, note: str = "") -> bool:
        with self.db.transaction() as tx:
            row = tx.one("UPDATE withdrawals SET status = 'failed', note = ?, settled_at = ?, refunded = 1 "
                         "WHERE id = ? AND status = 'pending' RETURNING user_id, amount", (note, now(), withdrawal_id))
            if row is None:
                return False
            apply_move(tx, row["user_id"], row["amount"], "withdrawal_refund", withdrawal_id,
                       key=f"refund:{withdrawal_id}")
        self.store.users_changed([row["user_id"]])
        return True

    def history(self, user_id: int, limit: int = 10, offset: int = 0) -> list[LedgerEntry]:
        rows = self.db.query("SELECT * FROM point_transactions WHERE user_id = ? ORDER BY created_at DESC, "
                             "rowid DESC LIMIT ? OFFSET ?", (user_id, limit, offset))
        return [from_mapping(LedgerEntry, r) for r in rows]

    def history_count(self, user_id: int) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM point_transactions WHERE user_id = ?", (user_id,))

    def earned_by_kind(self, user_id: int) -> dict[str, int]:
        rows = self.db.query("SELECT kind, SUM(amount) AS total FROM point_transactions WHERE user_id = ? "
                             "GROUP BY kind", (user_id,))
        return {r["kind"]: r["total"] for r in rows}

    def totals(self) -> dict[str, int]:
        row = self.db.query("SELECT COALESCE(SUM(points), 0) AS points, "      # an aggregate: always one row
                            "COALESCE(SUM(total_earned), 0) AS total_earned FROM users")[0]
        return {"points": row["points"], "total_earned": row["total_earned"]}

