"""MongoDB points repository: balances, ledger, transfers, withdrawals (built on `MongoMoney`)."""
from __future__ import annotations

from pymongo import ReturnDocument

from storage.base import PointsRepository, check_amount, check_transfer, credited_balance
from storage.mongo.documents import page, to_doc, to_record
from storage.mongo.money import ALREADY_APPLIED, STALE_S, MongoStoreView
from storage.records import LedgerEntry, NotFoundError, Transfer, Withdrawal, keyed_id, new_id, now

NEWEST = [("created_at", -1), ("_id", -1)]
OLDEST = [("created_at", 1), ("_id", 1)]


class MongoPoints(PointsRepository):
    """Points on MongoDB; money collections are written with w=majority."""

    def __init__(self, store: MongoStoreView) -> None:
        self.store = store
        self.money = store.money_ops
        self.users = store.money["users"]
        self.ledger = store.money["point_transactions"]
        self.transfers = store.money["transfers"]
        self.withdrawals = store.money["withdrawals"]

    def balance(self, user_id: int) -> int | None:
        doc = self.users.find_one({"_id": user_id}, {"points": 1})
        return doc["points"] if doc else None

    def credit(self, user_id: int, amount: int, kind: str, reference: str = "", key: str | None = None) -> int:
        check_amount(amount)
        entry = self.money.move(user_id, amount, kind, reference, key)
        return credited_balance(user_id, self.balance(user_id) if entry is ALREADY_APPLIED else entry["balance_after"])

    def debit_if_enough(self, user_id: int, amount: int, kind: str, reference: str = "",
                        key: str | None = None) -> int | None:
        check_amount(amount)
        entry = self.money.move(user_id, -amount, kind, reference, key)
        if entry is ALREADY_APPLIED:
            return self.balance(user_id)
        return entry["balance_after"] if entry else None

    def transfer(self, sender_id: int, receiver_id: int, amount: int, fee: int = 0,
                 key: str | None = None) -> Transfer | None:
        check_transfer(sender_id, receiver_id, amount, fee)
        if self.users.find_one({"_id": receiver_id}, {"_id": 1}) is None:
            raise NotFoundError(f"user {receiver_id} does not exist")
        record = Transfer(keyed_id(key) if key else new_id(), sender_id, receiver_id, amount, fee, amount - fee, now())
        credit_key = f"transfer_in:{record.id}"
        credit_leg = {"user_id": receiver_id, "amount": record.net, "kind": "transfer_in",
                      "reference": record.id, "key": credit_key}
        debit_key = f"transfer_out:{record.id}" if key else None
        done = self.get_transfer(record.id) if key else None
        if done is not None:
            return done             # settled long ago: `recent` may no longer hold the key
        # the debit carries the transfer record and the credit leg, so repair can finish either
        debit = self.money.apply(sender_id, -amount, "transfer_out", record.id, key=debit_key,
                                 record={"collection": "transfers", "doc": to_doc(record)}, then=credit_leg)
        if debit is ALREADY_APPLIED and debit_key is not None:    # only a keyed move can have been applied before
            # the same key again, maybe after a crash mid-way: finish what the first call left pending
            self.money.finish(sender_id, debit_key)
            return self.get_transfer(record.id)
        if debit is None:
            return None
        credit = self.money.apply(receiver_id, record.net, "transfer_in", record.id, key=credit_key)
        self.money.settle([debit, credit])
        self.store.users_changed([sender_id, receiver_id])
        return record

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        return to_record(Transfer, self.transfers.find_one({"_id": transfer_id}))

    def transfers_for(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Transfer]:
        cursor = self.transfers.find({"$or": [{"sender_id": user_id}, {"receiver_id": user_id}]}).sort(NEWEST)
        return [to_record(Transfer, d) for d in page(cursor, limit, offset)]

    def sent_since(self, sender_id: int, since: float) -> tuple[int, int]:
        rows = list(self.transfers.aggregate([
            {"$match": {"sender_id": sender_id, "created_at": {"$gte": since}}},
            {"$group": {"_id": None, "n": {"$sum": 1}, "total": {"$sum": "$amount"}}}]))
        return (rows[0]["n"], rows[0]["total"]) if rows else (0, 0)

    def create_withdrawal(self, user_id: int, amount: int, address: str,
                          key: str | None = None) -> Withdrawal | None:
        check_amount(amount)
        record = Withdrawal(keyed_id(key) if key else new_id(), user_id, amount, address, "pending", now())
        entry_key = f"withdrawal:{record.id}" if key else None
        done = self.get_withdrawal(record.id) if key else None
        if done is not None:
            return done
        entry = self.money.move(user_id, -amount, "withdrawal", record.id, key=entry_key,
                                record={"collection": "withdrawals", "doc": to_doc(record)})
        if entry is ALREADY_APPLIED and entry_key is not None:    # only a keyed move can have been applied before
            self.money.finish(user_id, entry_key)
            return self.get_withdrawal(record.id)
        return record if entry else None

    def get_withdrawal(self, withdrawal_id: str) -> Withdrawal | None:
        return to_record(Withdrawal, self.withdrawals.find_one({"_id": withdrawal_id}))

    def withdrawals_for(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Withdrawal]:
        cursor = self.withdrawals.find({"user_id": user_id}).sort(NEWEST)
        return [to_record(Withdrawal, d) for d in page(cursor, limit, offset)]

    def list_withdrawals(self, status: str = "pending", limit: int = 20, offset: int = 0) -> list[Withdrawal]:
        cursor = self.withdrawals.find({"status": status}).sort(OLDEST)
        return [to_record(Withdrawal, d) for d in page(cursor, limit, offset)]

    def count_withdrawals(self, status: str = "pending") -> int:
        return self.withdrawals.count_documents({"status": status})

    def mark_withdrawal_paid(self, withdrawal_id: str, tx_hash: str = "") -> bool:
        result = self.withdrawals.update_one({"_id": withdrawal_id, "status": "pending"},
                                             {"$set": {"status": "paid", "tx_hash": tx_hash, "settled_at": now()}})
        return result.modified_count == 1

    def mark_withdrawal_failed(self, withdrawal_id: str, note: str = "") -> bool:
        # the status flip picks one winner; the refund is keyed, so repair can redo it safely
        doc = self.withdrawals.find_one_and_update(
            {"_id": withdrawal_id, "status": "pending"},
            {"$set": {"status": "failed", "note": note, "settled_at": now(), "refunded": False}},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            return False
        self._refund(doc)
        return True

    def _refund(self, doc: dict) -> None:
        self.money.move(doc["user_id"], doc["amount"], "withdrawal_refund", doc["_id"], key=f"refund:{doc['_id']}")
        self.withdrawals.update_one({"_id": doc["_id"]}, {"$set": {"refunded": True}})

    def repair_refunds(self, older_than_s: float = STALE_S) -> int:
        """Refund failed withdrawals whose refund a crash interrupted."""
        stuck = list(self.withdrawals.find({"status": "failed", "refunded": False,
                                            "settled_at": {"$lt": now() - older_than_s}}))
        for doc in stuck:
            self._refund(doc)
        return len(stuck)

    def history(self, user_id: int, limit: int = 10, offset: int = 0) -> list[LedgerEntry]:
        cursor = self.ledger.find({"user_id": user_id}).sort(NEWEST)
        return [to_record(LedgerEntry, d) for d in page(cursor, limit, offset)]

    def history_count(self, user_id: int) -> int:
        return self.ledger.count_documents({"user_id": user_id})

    def earned_by_kind(self, user_id: int) -> dict[str, int]:
        rows = self.ledger.aggregate([{"$match": {"user_id": user_id}},
                                      {"$group": {"_id": "$kind", "total": {"$sum": "$amount"}}}])
        return {r["_id"]: r["total"] for r in rows}

    def totals(self) -> dict[str, int]:
        rows = list(self.store.reports["users"].aggregate([
            {"$group": {"_id": None, "points": {"$sum": "$points"}, "total_earned": {"$sum": "$total_earned"}}}]))
        return {"points": rows[0]["points"], "total_earned": rows[0]["total_earned"]} if rows else \
            {"points": 0, "total_earned": 0}
