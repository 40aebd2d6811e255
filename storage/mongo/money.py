"""MongoDB points: a guarded `$inc` whose ledger entry rides in the same single-document update.

Without multi-document transactions the balance change and its ledger row cannot be two writes
that might be split by a crash. So `apply` changes `points` and pushes the entry onto the user's
`pending` array in ONE atomic update (filter `points >= amount` for debits, `recent != key` for
idempotent credits). `settle` then copies pending entries into point_transactions (plus the
transfer/withdrawal record they carry) and pulls them. A crash between the two leaves the entry in
`pending`, where `repair` (run by every worker at start) finds and settles it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from storage.records import NOT_EARNED, NotFoundError, new_id, now

if TYPE_CHECKING:

    from storage.base import PointsRepository, TaskRepository

ALREADY_APPLIED = object()
RECENT_KEYS = 64      # idempotency keys remembered per user (a retry comes long before 64 more keyed credits)
STALE_S = 60          # pending entries older than this belong to a crashed writer


class Inserts(Protocol):
    """A collection (or the store's counting wrapper of one): what insert_ignoring_duplicates needs."""

    def insert_many(self, documents: list[dict], ordered: bool = ...) -> object: ...


class MongoStoreView(Protocol):
    """What the Mongo repositories need of their store (MongoStore is one), so they never import it."""

    @property
    def money(self) -> dict[str, Any]: ...      # collection name -> collection with majority writes
    @property
    def plain(self) -> dict[str, Any]: ...
    @property
    def reports(self) -> dict[str, Any]: ...    # secondary-preferred reads
    @property
    def money_ops(self) -> MongoMoney: ...
    @property
    def points(self) -> PointsRepository: ...
    @property
    def tasks(self) -> TaskRepository: ...
    def users_changed(self, user_ids: Iterable[int]) -> None: ...


def insert_ignoring_duplicates(collection: Inserts, docs: list[dict]) -> None:
    """insert_many that treats "already there" as success (settle and repair may race)."""
    if not docs:
        return
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise


class MongoMoney:
    """`apply` and `settle`: the only code that changes users.points on MongoDB."""

    def __init__(self, store: MongoStoreView) -> None:
        self.store = store
        self.users = store.money["users"]
        self.ledger = store.money["point_transactions"]

    def apply(self, user_id: int, amount: int, kind: str, reference: str = "", key: str | None = None,
              extra_inc: dict | None = None, record: dict | None = None, then: dict | None = None) -> Any:
        """Change the balance and push the ledger entry atomically; returns the entry (with
        balance_after), None if a debit would overdraw, or ALREADY_APPLIED for a used key."""
        entry = {"id": key or new_id(), "user_id": user_id, "amount": amount, "kind": kind,
                 "reference": reference, "created_at": now()}
        entry.update({k: v for k, v in (("record", record), ("then", then)) if v})
        query: dict[str, Any] = {"_id": user_id}
        push: dict[str, Any] = {"pending": entry}
        if amount < 0:
            query["points"] = {"$gte": -amount}
        if key:
            query["recent"] = {"$ne": key}
            push["recent"] = {"$each": [key], "$slice": -RECENT_KEYS}
        earned = amount if amount > 0 and kind not in NOT_EARNED else 0
        doc = self.users.find_one_and_update(
            query, {"$inc": {"points": amount, "total_earned": earned, **(extra_inc or {})}, "$push": push},
            projection={"points": 1}, return_document=ReturnDocument.AFTER)
        if doc is None:
            current = self.users.find_one({"_id": user_id}, {"recent": 1})
            if current is None:
                raise NotFoundError(f"user {user_id} does not exist")
            return ALREADY_APPLIED if key and key in current.get("recent", []) else None
        return {**entry, "balance_after": doc["points"]}

    def settle(self, entries: list[dict]) -> None:
        """Write the ledger rows and carried records of applied entries, then drop them from pending."""
        entries = [e for e in entries if isinstance(e, dict)]
        if not entries:
            return
        insert_ignoring_duplicates(self.ledger, [
            {"_id": e["id"], "user_id": e["user_id"], "amount": e["amount"], "kind": e["kind"],
             "reference": e["reference"], "balance_after": e.get("balance_after", -1),
             "created_at": e["created_at"]} for e in entries])
        for e in entries:
            if "record" in e:
                insert_ignoring_duplicates(self.store.money[e["record"]["collection"]], [e["record"]["doc"]])
        by_user: dict[int, list[str]] = {}
        for e in entries:
            by_user.setdefault(e["user_id"], []).append(e["id"])
        self.users.bulk_write([UpdateOne({"_id": uid}, {"$pull": {"pending": {"id": {"$in": ids}}}})
                               for uid, ids in by_user.items()], ordered=False)

    def move(self, user_id: int, amount: int, kind: str, reference: str = "", key: str | None = None,
             **extra: Any) -> Any:
        """apply + settle + cache invalidation: one complete balance change."""
        entry = self.apply(user_id, amount, kind, reference, key, **extra)
        if isinstance(entry, dict):
            self.settle([entry])
            self.store.users_changed([user_id])
        return entry

    def finish(self, user_id: int, entry_id: str) -> None:
        """Settle one applied entry still in `pending` (and apply its follow-up leg): a keyed retry
        after its first attempt died between `apply` and `settle`. Nothing when already settled."""
        doc = self.users.find_one({"_id": user_id, "pending.id": entry_id}, {"pending": 1})
        if doc is None:
            return
        entries = [e for e in doc["pending"] if e["id"] == entry_id]
        follow = [self.apply(**e["then"]) for e in entries if "then" in e]
        for leg, result in zip([e["then"] for e in entries if "then" in e], follow):
            if result is ALREADY_APPLIED:
                self.finish(leg["user_id"], leg["key"])
        self.settle(entries + follow)
        self.store.users_changed([user_id] + [e["then"]["user_id"] for e in entries if "then" in e])

    def repair(self, older_than_s: float = STALE_S) -> int:
        """Settle entries a crashed writer left in `pending` (finishing a transfer's credit leg)."""
        cutoff, fixed = now() - older_than_s, 0
        for doc in list(self.users.find({"pending.created_at": {"$lt": cutoff}}, {"pending": 1})):
            stale = [e for e in doc["pending"] if e["created_at"] < cutoff]
            # the credit leg is keyed, so applying it again is a no-op if it already happened
            follow = [self.apply(**e["then"]) for e in stale if "then" in e]
            self.settle(stale + follow)
            self.store.users_changed([doc["_id"]] + [e["then"]["user_id"] for e in stale if "then" in e])
            fixed += len(stale)
        return fixed
