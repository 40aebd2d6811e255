"""MongoDB crash windows (mongomock): a writer that dies between the atomic balance change and the
ledger/record writes leaves an entry in `pending`; `repair` finishes it exactly once."""
from __future__ import annotations

import pytest

from storage.mongo.money import ALREADY_APPLIED
from tests.storage.conftest import make_store


@pytest.fixture
def mongo(tmp_path):
    store = make_store("mongomock", tmp_path)
    for uid in (1, 2):
        store.users.register(uid)
        store.points.credit(uid, 100, "award")
    return store


def books_balance(store, uid):
    return sum(store.points.earned_by_kind(uid).values()) == store.points.balance(uid)


def test_transfer_interrupted_after_debit_is_finished_by_repair(mongo):
    leg = {"user_id": 2, "amount": 30, "kind": "transfer_in", "reference": "t1", "key": "transfer_in:t1"}
    record = {"collection": "transfers", "doc": {"_id": "t1", "sender_id": 1, "receiver_id": 2, "amount": 30,
                                                  "fee": 0, "net": 30, "created_at": 1.0}}
    mongo.money_ops.apply(1, -30, "transfer_out", "t1", record=record, then=leg)   # ...and the worker dies
    assert mongo.points.balance(1) == 70 and mongo.points.balance(2) == 100
    assert mongo.repair(older_than_s=0) == 1
    assert mongo.points.balance(2) == 130
    assert books_balance(mongo, 1) and books_balance(mongo, 2)
    assert [t.id for t in mongo.points.transfers_for(1)] == ["t1"]
    assert mongo.repair(older_than_s=0) == 0
    assert mongo.db.users.count_documents({"pending.0": {"$exists": True}}) == 0


def test_repair_leaves_fresh_pending_entries_to_their_writer(mongo):
    mongo.money_ops.apply(1, 5, "award")
    assert mongo.repair() == 0         # younger than STALE_S: its writer may still be settling it


def test_keyed_credit_is_not_paid_twice_after_a_crash(mongo):
    mongo.referrals.record(1, 2)
    mongo.money_ops.apply(1, 15, "referral", "2", key="referral:2", extra_inc={"referral_count": 1})  # dies
    assert mongo.referrals.credit_bonus(2, 15, 0) is False      # the redelivered update pays nothing more
    assert mongo.referrals.get(2).bonus_credited
    assert mongo.money_ops.apply(1, 15, "referral", "2", key="referral:2") is ALREADY_APPLIED
    mongo.repair(older_than_s=0)
    assert mongo.points.balance(1) == 115 and books_balance(mongo, 1)
    assert mongo.users.get(1).referral_count == 1


def test_unpaid_approval_and_unrefunded_failure_are_repaired(mongo):
    sub = mongo.submissions.submit(1, "tweet", "proof")
    mongo.db.task_submissions.update_one({"_id": sub.id}, {"$set": {"status": "approved", "paid": False,
                                                                   "completions": 1, "reward": 20,
                                                                   "reviewed_at": 1.0}})
    withdrawal = mongo.points.create_withdrawal(2, 40, "0x2")
    mongo.db.withdrawals.update_one({"_id": withdrawal.id}, {"$set": {"status": "failed", "refunded": False,
                                                                      "settled_at": 1.0}})
    assert mongo.repair(older_than_s=0) == 2
    assert mongo.points.balance(1) == 120 and mongo.submissions.get(sub.id).paid
    assert mongo.points.balance(2) == 100 and mongo.points.get_withdrawal(withdrawal.id).refunded
    assert mongo.repair(older_than_s=0) == 0
    assert books_balance(mongo, 1) and books_balance(mongo, 2)


def test_keyed_transfer_retried_after_a_crash_completes_without_repair(mongo, monkeypatch):
    settle = mongo.money_ops.settle
    monkeypatch.setattr(mongo.money_ops, "settle", lambda entries: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        mongo.points.transfer(1, 2, 30, key="confirm:t")   # debit applied, worker dies before the credit settles
    monkeypatch.setattr(mongo.money_ops, "settle", settle)
    assert mongo.points.balance(1) == 70
    record = mongo.points.transfer(1, 2, 30, key="confirm:t")   # the redelivered confirmation
    assert record is not None and record.amount == 30
    assert mongo.points.balance(1) == 70 and mongo.points.balance(2) == 130
    assert mongo.points.transfer(1, 2, 30, key="confirm:t") == record
    assert mongo.points.balance(1) == 70 and mongo.points.balance(2) == 130
    assert mongo.db.users.count_documents({"pending.0": {"$exists": True}}) == 0
    assert books_balance(mongo, 1) and books_balance(mongo, 2) and mongo.repair(older_than_s=0) == 0


def test_keyed_withdrawal_retried_after_a_crash_debits_once(mongo, monkeypatch):
    settle = mongo.money_ops.settle
    monkeypatch.setattr(mongo.money_ops, "settle", lambda entries: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        mongo.points.create_withdrawal(1, 40, "0x1", key="confirm:w")
    monkeypatch.setattr(mongo.money_ops, "settle", settle)
    withdrawal = mongo.points.create_withdrawal(1, 40, "0x1", key="confirm:w")
    assert withdrawal is not None and withdrawal.status == "pending"
    assert mongo.points.balance(1) == 60 and len(mongo.points.withdrawals_for(1)) == 1
    assert books_balance(mongo, 1) and mongo.repair(older_than_s=0) == 0
