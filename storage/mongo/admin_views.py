"""MongoDB keyset pages for the admin web: `created_at` beyond the cursor, or equal with `_id` beyond
it, sorted (created_at, _id) on the (status|user, created_at) indexes; users by `_id` descending."""
from __future__ import annotations

import re
from typing import Any

from storage.base import AdminViewRepository, Keyset
from storage.mongo.documents import to_record
from storage.mongo.money import MongoStoreView
from storage.mongo.users import HIDDEN
from storage.records import LedgerEntry, Referral, Submission, Ticket, User, Withdrawal, username_key


class MongoAdminViews(AdminViewRepository):
    def __init__(self, store: MongoStoreView) -> None:
        self.store = store

    def user_counts(self) -> dict[str, int]:
        users = self.store.reports["users"]
        return {"total": users.count_documents({}), "verified": users.count_documents({"captcha_passed": True}),
                "referred": users.count_documents({"referred_by": {"$type": "number"}})}

    def _users(self, query: dict[str, Any], before_id: int | None, limit: int) -> list[User]:
        if before_id is not None:
            query = {**query, "_id": {"$lt": before_id}}
        docs = self.store.plain["users"].find(query, HIDDEN).sort("_id", -1).limit(limit)
        return [to_record(User, d) for d in docs]

    def users_page(self, before_id: int | None, limit: int, name_prefix: str | None = None) -> list[User]:
        if not name_prefix:
            return self._users({}, before_id, limit)
        first = {"$regex": "^" + re.escape(name_prefix), "$options": "i"}
        username = {"$regex": "^" + re.escape(username_key(name_prefix))}
        return self._users({"$or": [{"first_name": first}, {"username_lc": username}]}, before_id, limit)

    def banned_page(self, before_id: int | None, limit: int, at: float) -> list[User]:
        return self._users({"banned": True, "$or": [{"banned_until": None}, {"banned_until": {"$gt": at}}]},
                           before_id, limit)

    def users_in_captcha_state(self, state: str, before_id: int | None, limit: int) -> list[User]:
        return self._users({"captcha_state": state}, before_id, limit)

    def _page(self, collection: str, query: dict[str, Any], cursor: Keyset | None, limit: int,
              newest: bool) -> list[dict[str, Any]]:
        beyond, direction = ("$lt", -1) if newest else ("$gt", 1)
        if cursor is not None:
            at, key = cursor
            query = {**query, "$or": [{"created_at": {beyond: at}}, {"created_at": at, "_id": {beyond: key}}]}
        sort = [("created_at", direction), ("_id", direction)]
        return list(self.store.plain[collection].find(query).sort(sort).limit(limit))

    def ledger_page(self, user_id: int, before: Keyset | None, limit: int) -> list[LedgerEntry]:
        docs = self._page("point_transactions", {"user_id": user_id}, before, limit, newest=True)
        return [to_record(LedgerEntry, d) for d in docs]

    def referrals_page(self, referrer_id: int, before: Keyset | None, limit: int) -> list[Referral]:
        docs = self._page("referrals", {"referrer_id": referrer_id}, before, limit, newest=True)
        return [to_record(Referral, d, "referred_id") for d in docs]

    def submissions_page(self, status: str, after: Keyset | None, limit: int) -> list[Submission]:
        return [to_record(Submission, d) for d in self._page("task_submissions", {"status": status}, after, limit,
                                                              newest=False)]

    def withdrawals_page(self, status: str, after: Keyset | None, limit: int) -> list[Withdrawal]:
        return [to_record(Withdrawal, d) for d in self._page("withdrawals", {"status": status}, after, limit,
                                                              newest=False)]

    def tickets_page(self, status: str, after: Keyset | None, limit: int) -> list[Ticket]:
        return [to_record(Ticket, d) for d in self._page("tickets", {"status": status}, after, limit, newest=False)]
