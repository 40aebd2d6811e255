"""`migrate from-node` on both target backends, from a mongomock database shaped like the Node bot's
data model (features inventory, section 2: camelCase fields, string ids, point_transactions as the
ledger, `messages` of type support_ticket, banned_users)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import mongomock
import pytest
from bson import ObjectId
from click.testing import CliRunner

import cli
from botrunner.tools import node_migration
from storage.node_import.migrate import NodeMigration
from storage.records import keyed_id

NOW = datetime.now(timezone.utc).replace(tzinfo=None)
DAY = timedelta(days=1)


def node_user(uid: str, **fields):
    doc = {"_id": ObjectId(), "id": uid, "telegramId": uid, "username": f"u{uid}", "firstName": "F" + uid,
           "languageCode": "en", "isPremium": False, "points": 0, "totalEarned": 0, "isBlocked": False,
           "isVerified": True, "registrationStatus": "completed", "referralCode": f"REF{uid}ABC",
           "totalReferrals": 0, "registeredAt": (NOW - 10 * DAY).isoformat() + "Z", "lastActiveAt": NOW - DAY}
    doc.update(fields)
    return doc


def tx(uid: str, amount, kind: str, days_ago: float):
    return {"_id": ObjectId(), "id": f"tx-{ObjectId()}", "userId": uid, "amount": amount, "type": kind,
            "metadata": {"category": kind}, "createdAt": NOW - days_ago * DAY}


@pytest.fixture
def node_db():
    db = mongomock.MongoClient()["telegram_airdrop_bot"]
    db.users.insert_many([
        node_user("1001", points=55, totalEarned=65, totalReferrals=1, walletAddress="0x" + "ab" * 20,
                  lastNonceUsed=4),
        node_user("1002", points=7, totalEarned=7, referredBy="1001", isPremium=True),
        node_user("1003", points=40, totalEarned=40),                           # ledger short by 10
        node_user("1004", isBlocked=True, blockReason="multi-account"),          # banned, no expiry
        node_user("1005", isBlocked=True, blockReason="Forbidden: bot was blocked by the user (403)"),
        node_user("abc"), node_user("99999999999999999999"), node_user("²"),   # unmappable ids
        node_user("1006", points=1.5),                                          # not whole points
    ])
    db.point_transactions.insert_many([
        tx("1001", 15, "referral", 5), tx("1001", 50, "task", 4), tx("1001", -10, "transfer_out", 3),
        tx("1002", 7, "referral_welcome", 5),
        tx("1003", 30, "task", 2),
        tx("4242", 5, "task", 1),                                               # user unknown
        tx("1001", "lots", "task", 1),                                          # unmappable amount
    ])
    db.referrals.insert_many([
        {"_id": ObjectId(), "id": "r1", "referrerId": "1001", "referredUserId": "1002", "createdAt": NOW - 5 * DAY},
        {"_id": ObjectId(), "id": "r2", "referrerId": "1003", "referredUserId": "1003", "createdAt": NOW},
    ])
    db.task_submissions.insert_many([
        {"_id": ObjectId(), "id": "s1", "userId": "1001", "taskId": "twitter_follow", "status": "Approved",
         "submissionData": "@alice", "createdAt": NOW - 4 * DAY, "reviewedAt": NOW - 4 * DAY, "reviewedBy": "9"},
        {"_id": ObjectId(), "id": "s2", "userId": "1002", "taskId": "retweet", "status": "Pending",
         "submissionData": "https://x.com/a/status/1", "createdAt": NOW - DAY},
        {"_id": ObjectId(), "id": "s3", "userId": "1002", "taskId": "x", "status": "Lost", "createdAt": NOW},
    ])
    db.transfers.insert_many([
        {"_id": ObjectId(), "hash": "h1", "senderId": "1001", "receiverId": "1003", "amount": 10, "fee": 0,
         "net": 10, "status": "completed", "createdAt": NOW - 3 * DAY},
        {"_id": ObjectId(), "hash": "h2", "senderId": "1001", "receiverId": "1003", "amount": 10, "fee": 0,
         "status": "pending", "createdAt": NOW},
    ])
    db.withdrawals.insert_many([
        {"_id": ObjectId(), "id": "w1", "userId": "1001", "points": 100, "walletAddress": "0x" + "ab" * 20,
         "status": "completed", "txHash": "0xfeed", "createdAt": NOW - 2 * DAY, "completedAt": NOW - 2 * DAY},
        {"_id": ObjectId(), "id": "w2", "userId": "1003", "points": 100, "walletAddress": "0x" + "cd" * 20,
         "status": "failed", "createdAt": NOW - DAY},
    ])
    db.messages.insert_many([
        {"_id": ObjectId(), "id": "m1", "type": "support_ticket", "userId": "1002", "category": "technical",
         "message": "It does not work", "status": "open", "createdAt": NOW - DAY},
        {"_id": ObjectId(), "id": "m2", "type": "broadcast", "text": "Hello all"},
    ])
    db.banned_users.insert_many([
        {"_id": ObjectId(), "userId": "1003", "reason": "fraud", "bannedUntil": NOW + 2 * DAY},
        {"_id": ObjectId(), "userId": "1002", "reason": "spam", "type": "spam_freeze", "expiresAt": NOW + DAY},
        {"_id": ObjectId(), "userId": "1001", "reason": "old", "bannedUntil": NOW - DAY},
    ])
    return db


def test_imports_every_collection_with_values(node_db, store):
    report = NodeMigration(node_db, store, batch_size=3).run()
    ann, bea, cat = store.users.get(1001), store.users.get(1002), store.users.get(1003)
    assert (ann.username, ann.first_name, ann.points, ann.total_earned, ann.referral_count) == ("u1001", "F1001", 55, 65, 1)
    assert ann.referral_code == "REF1001ABC" and ann.wallet_address == "0x" + "ab" * 20 and ann.captcha_passed
    assert not ann.is_banned()                                        # its ban expired
    assert bea.referred_by == 1001 and bea.is_premium and not bea.is_banned()   # a spam freeze is not a ban
    assert cat.is_banned() and cat.ban_reason == "fraud" and cat.banned_until is not None
    assert store.users.get(1004).is_banned() and store.users.get(1004).banned_until is None
    assert store.users.get(1005).blocked_bot and not store.users.get(1005).is_banned()
    assert store.referrals.get(1002).referrer_id == 1001 and store.referrals.get(1002).bonus_credited
    assert [(e.kind, e.amount, e.balance_after) for e in reversed(store.points.history(1001))] == [
        ("referral", 15, 15), ("task", 50, 65), ("transfer_out", -10, 55)]
    sub = store.submissions.get_for(1001, "twitter_follow")
    assert sub.status == "approved" and sub.paid and sub.proof == "@alice" and sub.reviewer_id == 9
    assert [s.task_id for s in store.submissions.list_pending()] == ["retweet"]
    assert store.points.get_transfer(keyed_id("node:transfer:h1")).receiver_id == 1003
    paid, failed = (store.points.get_withdrawal(keyed_id(f"node:withdrawal:{w}")) for w in ("w1", "w2"))
    assert (paid.status, paid.tx_hash, failed.status, failed.refunded) == ("paid", "0xfeed", "failed", True)
    assert [t.text for t in store.tickets.list_open()] == ["It does not work"]
    assert store.repair() == 0
    counts = report.counts
    assert (counts["users"].read, counts["users"].imported, counts["users"].unmappable) == (9, 5, 4)
    assert counts["referrals"].unmappable == 1 and counts["task_submissions"].unmappable == 1
    assert counts["transfers"].unmappable == 1 and counts["tickets"].read == 1
    assert counts["point_transactions"].unmappable == 1 and report.orphan_ledger_rows == 1
    assert report.bans_applied == 1
    assert report.nonces_carried == 1 and store.claims.reserve("next", 1001) == 5     # never reuses 1..4


def test_unmappable_rows_are_reported_by_id_and_reason(node_db, store):
    lines = "\n".join(NodeMigration(node_db, store).run().lines())
    for bad in ("'abc' is not a number", "99999999999999999999", "'²' is not a number",
                "1.5 is not a whole number", "self-referral", "'Lost'", "'pending': only completed"):
        assert bad in lines, bad


def test_balances_equal_ledger_sums_after_import(node_db, store):
    report = NodeMigration(node_db, store).run()
    for uid in (1001, 1002, 1003, 1004, 1005):
        assert sum(store.points.earned_by_kind(uid).values()) == store.points.balance(uid), uid
    assert store.points.earned_by_kind(1003) == {"task": 30, "import_adjustment": 10}
    assert report.balance_differences == 1 and report.difference_examples == [
        "user 1003: balance 40, ledger sum 30"]


def test_second_run_adds_nothing_and_a_cleared_checkpoint_finds_everything_there(node_db, store):
    NodeMigration(node_db, store).run()
    before = store.stats()["counts"]
    again = NodeMigration(node_db, store).run()
    assert again.counts["users"].read == 0 and store.stats()["counts"] == before
    for key in list(store.settings.all()):
        store.settings.delete(key)
    third = NodeMigration(node_db, store).run()
    assert third.counts["users"].imported == 0 and third.counts["users"].existing == 5
    assert third.counts["point_transactions"].imported == 0 and store.stats()["counts"] == before


def test_a_run_that_dies_resumes_after_its_last_batch(node_db, store, monkeypatch):
    real, calls = store.import_records, []

    def dies_on_the_third_write(table, records):
        calls.append(table)
        if len(calls) == 3:
            raise ConnectionError("network gone")
        return real(table, records)
    monkeypatch.setattr(store, "import_records", dies_on_the_third_write)
    with pytest.raises(ConnectionError):
        NodeMigration(node_db, store, batch_size=2).run()
    assert store.users.count() == 2
    monkeypatch.setattr(store, "import_records", real)
    report = NodeMigration(node_db, store, batch_size=2).run()
    assert report.counts["users"].read == 7                   # the first batch is not read again
    assert store.users.count() == 5 and len(store.points.history(1001)) == 3
    assert sum(store.points.earned_by_kind(1003).values()) == 40


def test_a_user_the_store_refuses_gets_no_ledger_rows(node_db, store):
    store.users.register(77, referral_code="REF1001ABC")                 # botrunner already has that code
    report = NodeMigration(node_db, store).run()
    assert store.users.get(1001) is None and store.points.history(1001) == []
    assert any(e.startswith("1001: clashes") for e in report.counts["users"].examples)


def test_dry_run_writes_nothing(node_db, store):
    report = NodeMigration(node_db, store, dry_run=True).run()
    assert report.counts["users"].imported == 5 and store.users.count() == 0 and store.settings.all() == {}
    assert report.lines()[0].startswith("Dry run: nothing written.")


def test_cli_migrates_into_the_configured_store(node_db, tmp_path, monkeypatch):
    monkeypatch.setattr(node_migration, "connect_source", lambda url: node_db.client)
    monkeypatch.setenv("STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "migrate", "from-node",
                                           "--mongodb-url", "mongodb://node:hunter2@old-host/telegram_airdrop_bot"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "users" in result.output
    from storage.sqlite.backend import SQLiteStore
    assert SQLiteStore(str(tmp_path / "botrunner.sqlite3")).users.get(1001).points == 55


def test_cli_refuses_the_target_database_as_source(monkeypatch):
    monkeypatch.setenv("MONGODB_URL", "mongodb://h1/shared")
    result = CliRunner().invoke(cli.main, ["--env-file", "/nonexistent", "migrate", "from-node",
                                           "--mongodb-url", "mongodb://h1/shared"])
    assert result.exit_code == 2 and "botrunner's own MONGODB_URL database" in result.output
