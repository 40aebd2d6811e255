"""SQLite keyset pages for the admin web: `(created_at, id) > (?, ?)` (row values) on the
(status|user, created_at) indexes the bot's own queries use, and `id < ?` on the users' primary key."""
from __future__ import annotations

from typing import Any

from storage.base import AdminViewRepository, Keyset
from storage.records import LedgerEntry, Referral, Submission, Ticket, User, Withdrawal, from_mapping, username_key
from storage.sqlite.connection import SQLiteStoreView


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SQLiteAdminViews(AdminViewRepository):
    def __init__(self, store: SQLiteStoreView) -> None:
        self.db = store.db

    def user_counts(self) -> dict[str, int]:
        row = self.db.query_one("SELECT COUNT(*) AS total, COALESCE(SUM(captcha_passed), 0) AS verified, "
                                "COUNT(referred_by) AS referred FROM users")
        return {k: int(v) for k, v in (row or {}).items()}

    def _users(self, where: str, args: tuple[Any, ...], before_id: int | None, limit: int) -> list[User]:
        if before_id is not None:
            where, args = f"{where} AND id < ?", (*args, before_id)
        rows = self.db.query(f"SELECT * FROM users WHERE {where} ORDER BY id DESC LIMIT ?", (*args, limit))
        return [from_mapping(User, r) for r in rows]

    def users_page(self, before_id: int | None, limit: int, name_prefix: str | None = None) -> list[User]:
        if not name_prefix:
            return self._users("1 = 1", (), before_id, limit)
        return self._users("(first_name LIKE ? ESCAPE '\\' OR username_lc LIKE ? ESCAPE '\\')",
                           (_like_prefix(name_prefix), _like_prefix(username_key(name_prefix))), before_id, limit)

    def banned_page(self, before_id: int | None, limit: int, at: float) -> list[User]:
        return self._users("banned = 1 AND (banned_until IS NULL OR banned_until > ?)", (at,), before_id, limit)

    def users_in_captcha_state(self, state: str, before_id: int | None, limit: int) -> list[User]:
        return self._users("captcha_state = ?", (state,), before_id, limit)

    def _page(self, table: str, where: str, args: tuple[Any, ...], key: str, cursor: Keyset | None, limit: int,
              newest: bool) -> list[dict[str, Any]]:
        order, compare = ("DESC", "<") if newest else ("ASC", ">")
        if cursor is not None:
            where, args = f"{where} AND (created_at, {key}) {compare} (?, ?)", (*args, *cursor)
        return self.db.query(f"SELECT * FROM {table} WHERE {where} ORDER BY created_at {order}, {key} {order} "
                             "LIMIT ?", (*args, limit))

    def ledger_page(self, user_id: int, before: Keyset | None, limit: int) -> list[LedgerEntry]:
        rows = self._page("point_transactions", "user_id = ?", (user_id,), "id", before, limit, newest=True)
        return [from_mapping(LedgerEntry, r) for r in rows]

    def referrals_page(self, referrer_id: int, before: Keyset | None, limit: int) -> list[Referral]:
        rows = self._page("referrals", "referrer_id = ?", (referrer_id,), "referred_id", before, limit, newest=True)
        return [from_mapping(Referral, r) for r in rows]

    def submissions_page(self, status: str, after: Keyset | None, limit: int) -> list[Submission]:
        rows = self._page("task_submissions", "status = ?", (status,), "id", after, limit, newest=False)
        return [from_mapping(Submission, r) for r in rows]

    def withdrawals_page(self, status: str, after: Keyset | None, limit: int) -> list[Withdrawal]:
        rows = self._page("withdrawals", "status = ?", (status,), "id", after, limit, newest=False)
        return [from_mapping(Withdrawal, r) for r in rows]

    def tickets_page(self, status: str, after: Keyset | None, limit: int) -> list[Ticket]:
        rows = self._page("tickets", "status = ?", (status,), "id", after, limit, newest=False)
        return [from_mapping(Ticket, r) for r in rows]
