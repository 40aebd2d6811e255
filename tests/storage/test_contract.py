"""The storage contract: ONE test class, run against every backend by the `store` fixture."""
from __future__ import annotations

import time

import pytest

from storage.records import DuplicateError, NotFoundError, Task, keyed_id


def add_users(store, *ids, points=0):
    for uid in ids:
        store.users.register(uid, f"user{uid}")
        if points:
            store.points.credit(uid, points, "award")


def forget_submissions(store, user_id: int, task_id: str) -> None:
    """Delete a user's submission of a task behind the repository's back (a lost row)."""
    if store.backend == "sqlite":
        store.db.execute("DELETE FROM task_submissions WHERE user_id = ? AND task_id = ?", (user_id, task_id))
    else:
        store.submissions.subs.delete_many({"user_id": user_id, "task_id": task_id})


class TestStoreContract:
    # ---- schema ----
    def test_init_schema_is_idempotent(self, store):
        assert store.init_schema() == []
        stats = store.stats()
        assert stats["counts"]["users"] == 0
        names = {i["name"] for i in stats["indexes"]}
        assert any("referral_code" in n for n in names) and any("total_earned" in n for n in names)

    # ---- users ----
    def test_register_once_and_lookups(self, store):
        user, created = store.users.register(1, "Alice", "A", "B", "en", True, referral_code="REF1", at=100.0)
        assert created and user.username == "Alice" and user.is_premium and user.registered_at == 100.0
        again, created = store.users.register(1, "other")
        assert not created and again.username == "Alice"
        assert store.users.get(1) == user
        assert store.users.get(2) is None
        assert store.users.find_by_username("@alice").id == 1
        assert store.users.find_by_username("nobody") is None
        assert store.users.find_by_referral_code("REF1").id == 1

    def test_referral_code_unique_and_one_time(self, store):
        store.users.register(1, referral_code="CODE1")
        with pytest.raises(DuplicateError):
            store.users.register(2, referral_code="CODE1")
        store.users.register(2)
        store.users.register(3)   # many users without a code
        with pytest.raises(DuplicateError):
            store.users.set_referral_code(2, "CODE1")
        assert store.users.set_referral_code(2, "MINE") is True
        assert store.users.set_referral_code(2, "AGAIN") is False
        assert store.users.get(2).referral_code == "MINE" and store.users.get(2).referral_code_locked

    def test_profile_language_captcha_ban_blocked(self, store):
        store.users.register(1)
        store.users.update_profile(1, "neo", "Thomas", "Anderson", "de", True)
        store.users.set_language(1, "ru")
        store.users.set_captcha(1, True, "done")
        store.users.ban(1, "spam", until=time.time() + 60)
        store.users.set_blocked_bot(1, True)
        user = store.users.get(1)
        assert (user.username, user.first_name, user.last_name, user.language_code) == ("neo", "Thomas", "Anderson", "ru")
        assert user.captcha_passed and user.captcha_state == "done" and user.blocked_bot
        assert user.is_banned() and user.ban_reason == "spam" and not user.is_banned(at=time.time() + 120)
        store.users.unban(1)
        assert not store.users.get(1).is_banned() and store.users.get(1).blocked_bot

    def test_wallet_unique_and_previous(self, store):
        add_users(store, 1, 2)
        store.users.set_wallet(1, "0xAAA")
        with pytest.raises(DuplicateError):
            store.users.set_wallet(2, "0xAAA")
        store.users.set_wallet(1, "0xBBB")
        user = store.users.get(1)
        assert (user.wallet_address, user.previous_wallet) == ("0xBBB", "0xAAA")
        assert store.users.find_by_wallet("0xBBB").id == 1 and store.users.find_by_wallet("0xAAA") is None

    def test_touch_counts_and_iteration(self, store):
        for uid in range(1, 8):
            store.users.register(uid, at=1000.0 + uid)
        store.users.touch_many({1: 5000.0, 2: 6000.0})
        store.users.touch_many({2: 10.0})   # last_active only moves forward
        assert store.users.get(2).last_active_at == 6000.0
        assert store.users.count() == 7
        assert store.users.count_active_since(4000.0) == 2
        assert store.users.count_registered_since(1005.0) == 3
        assert [u.id for u in store.users.iter_all(batch_size=3)] == list(range(1, 8))

    def test_leaderboards_and_ranks(self, store):
        add_users(store, 1, 2, 3, 4)
        for uid, amount in ((1, 50), (2, 80), (3, 50)):
            store.points.credit(uid, amount, "award")
        assert [u.id for u in store.users.top_by_total_earned(3)] == [2, 1, 3]
        assert store.users.rank_by_total_earned(2) == 1
        assert store.users.rank_by_total_earned(3) == 2     # ties share a rank
        assert store.users.rank_by_total_earned(4) == 4
        assert store.users.rank_by_total_earned(4, max_rank=2) == 3      # "#2+": counting stopped early
        assert store.users.rank_by_total_earned(2, max_rank=2) == 1
        assert store.users.rank_by_total_earned(99) is None
        for referred in (10, 11):
            store.users.register(referred)
            store.referrals.record(3, referred)
            store.referrals.credit_bonus(referred, 1, 0)
        assert store.users.top_by_referrals(1)[0].id == 3 and store.users.rank_by_referrals(3) == 1

    # ---- referrals ----
    def test_referral_record_rules(self, store):
        add_users(store, 1, 2, 3)
        assert store.referrals.record(1, 1) is False            # self
        assert store.referrals.record(1, 2, at=10.0) is True
        assert store.referrals.record(3, 2) is False            # already attributed
        assert store.referrals.record(2, 1) is False            # loop
        assert store.users.get(2).referred_by == 1
        assert store.referrals.get(2).referrer_id == 1 and not store.referrals.get(2).bonus_credited

    def test_referral_lists_counts_and_active(self, store):
        add_users(store, 1)
        for referred in range(10, 15):
            store.users.register(referred)
            store.referrals.record(1, referred, at=float(referred))
        page1 = store.referrals.list_by_referrer(1, limit=2)
        page2 = store.referrals.list_by_referrer(1, limit=2, offset=2)
        assert [r.referred_id for r in page1 + page2] == [14, 13, 12, 11]
        assert store.referrals.count_by_referrer(1) == 5
        store.users.touch_many({10: 9e9, 11: 9e9, 12: 9e9})
        for referred in (10, 11):
            store.users.set_captcha(referred, True, "passed")
        assert store.referrals.count_active_since(1, 9e9 - 1) == 2     # 12 is active but not verified

    def test_referral_bonus_exactly_once(self, store):
        add_users(store, 1, 2, 3)
        store.referrals.record(1, 2)
        assert store.referrals.credit_bonus(2, 15, 7) is True
        assert store.referrals.credit_bonus(2, 15, 7) is False
        assert store.referrals.credit_bonuses([(3, 15, 7)]) == [False]   # never attributed
        assert store.points.balance(1) == 15 and store.points.balance(2) == 7
        assert store.users.get(1).referral_count == 1 and store.referrals.get(2).bonus_credited
        assert {e.kind for e in store.points.history(1)} == {"referral"}

    # ---- tasks and submissions ----
    def test_tasks_create_seed_update_list(self, store):
        store.tasks.create(Task("b", "link", "Open", 5, order=2))
        with pytest.raises(DuplicateError):
            store.tasks.create(Task("b", "link", "Again", 5))
        assert store.tasks.seed([Task("a", "channel", "Join", 10, order=1), Task("b", "x", "ignored", 1)]) == 1
        assert store.tasks.get("b").title == "Open"
        assert [t.id for t in store.tasks.list()] == ["a", "b"]
        store.tasks.set_active("a", False)
        assert [t.id for t in store.tasks.list()] == ["b"]
        assert [t.id for t in store.tasks.list(active_only=False)] == ["a", "b"]
        assert store.tasks.update("b", reward=9, title="New").reward == 9
        with pytest.raises(ValueError):
            store.tasks.update("b", id="c")
        assert store.tasks.get("zzz") is None

    def test_complete_once_and_daily_cooldown(self, store):
        add_users(store, 1)
        assert store.submissions.complete(1, "join", 10) == 10
        assert store.submissions.complete(1, "join", 10) is None
        assert store.submissions.complete(1, "daily", 5, cooldown_s=3600, at=1000.0) == 15
        assert store.submissions.complete(1, "daily", 5, cooldown_s=3600, at=2000.0) is None
        assert store.submissions.complete(1, "daily", 5, cooldown_s=3600, at=4600.0) == 20
        assert store.submissions.get_for(1, "daily").completions == 2
        assert store.points.history_count(1) == 3

    def test_a_completion_whose_reward_was_paid_before_reports_the_balance(self, store):
        # the submission row is lost but the reward's ledger key remains: nothing is paid twice, and
        # complete() answers with the balance (SQLite used to hand back its internal "already applied" marker)
        add_users(store, 1)
        assert store.submissions.complete(1, "join", 10) == 10
        forget_submissions(store, 1, "join")
        assert store.submissions.complete(1, "join", 10) == 10
        assert store.points.balance(1) == 10
        assert store.points.history_count(1) == 1

    def test_submit_review_queue(self, store):
        add_users(store, 1, 2)
        first = store.submissions.submit(1, "tweet", "https://x.com/1", at=10.0)
        assert first.status == "pending" and store.submissions.submit(1, "tweet", "again") is None
        second = store.submissions.submit(2, "tweet", "proof2", at=20.0)
        store.submissions.submit(2, "follow", "proof3", at=30.0)
        assert [s.id for s in store.submissions.list_pending(limit=2)] == [first.id, second.id]
        assert len(store.submissions.list_pending(limit=2, offset=2)) == 1
        approved = store.submissions.review(first.id, True, 99, reward=25)
        assert approved.status == "approved" and approved.reviewer_id == 99 and approved.paid
        assert store.submissions.review(first.id, False, 99) is None          # no longer pending
        assert store.points.balance(1) == 25
        assert store.submissions.review(second.id, False, 99).status == "rejected"
        assert store.points.balance(2) == 0
        again = store.submissions.submit(2, "tweet", "better proof")            # resubmit after rejection
        assert again.status == "pending" and again.proof == "better proof"
        assert store.submissions.get(first.id).user_id == 1
        assert [s.task_id for s in store.submissions.list_for_user(2)] == ["follow", "tweet"]  # resubmitted last
        assert store.submissions.count_by_status() == {"approved": 1, "pending": 2}

    # ---- points ----
    def test_credit_debit_and_keys(self, store):
        add_users(store, 1)
        assert store.points.credit(1, 10, "award", "admin") == 10
        assert store.points.credit(1, 10, "award", key="once") == 20
        assert store.points.credit(1, 10, "award", key="once") == 20
        assert store.points.debit_if_enough(1, 25, "admin_debit") is None
        assert store.points.debit_if_enough(1, 20, "admin_debit") == 0
        with pytest.raises(ValueError):
            store.points.credit(1, -5, "award")
        with pytest.raises(NotFoundError):
            store.points.credit(404, 5, "award")
        assert store.points.balance(404) is None
        user = store.users.get(1)
        assert user.points == 0 and user.total_earned == 20

    def test_ledger_history_pagination_and_breakdown(self, store):
        add_users(store, 1)
        for amount in range(1, 6):
            store.points.credit(1, amount, "award", f"r{amount}")
        store.points.debit_if_enough(1, 4, "admin_debit")
        newest = store.points.history(1, limit=2)
        assert [e.amount for e in newest] == [-4, 5] and newest[0].balance_after == 11
        assert [e.amount for e in store.points.history(1, limit=2, offset=4)] == [2, 1]
        assert store.points.history_count(1) == 6
        assert store.points.earned_by_kind(1) == {"award": 15, "admin_debit": -4}
        assert store.points.totals() == {"points": 11, "total_earned": 15}

    def test_transfer(self, store):
        add_users(store, 1, 2, points=100)
        record = store.points.transfer(1, 2, 50, fee=1)
        assert (record.amount, record.fee, record.net) == (50, 1, 49)
        assert store.points.balance(1) == 50 and store.points.balance(2) == 149
        assert store.users.get(2).total_earned == 100      # receiving is not earning
        assert store.points.transfer(1, 2, 51) is None
        with pytest.raises(ValueError):
            store.points.transfer(1, 1, 5)
        with pytest.raises(ValueError):
            store.points.transfer(1, 2, 5, fee=6)
        with pytest.raises(NotFoundError):
            store.points.transfer(1, 404, 5)
        store.points.transfer(2, 1, 10)
        assert [t.sender_id for t in store.points.transfers_for(1)] == [2, 1]
        assert len(store.points.transfers_for(1, limit=1, offset=1)) == 1
        assert store.points.sent_since(1, 0) == (1, 50) and store.points.sent_since(1, time.time() + 1) == (0, 0)

    def test_keyed_transfer_moves_once(self, store):
        add_users(store, 1, 2, points=100)
        first = store.points.transfer(1, 2, 30, fee=3, key="confirm:abc")
        again = store.points.transfer(1, 2, 30, fee=3, key="confirm:abc")     # a redelivered confirmation
        assert again == first and first.id == keyed_id("confirm:abc")
        assert store.points.balance(1) == 70 and store.points.balance(2) == 127
        assert store.points.get_transfer(first.id) == first and store.points.get_transfer("nope") is None
        store.points.transfer(1, 2, 70, key="confirm:all")
        assert store.points.transfer(1, 2, 70, key="confirm:all").amount == 70   # short now, but already done
        assert store.points.balance(1) == 0 and len(store.points.transfers_for(1)) == 2
        assert store.points.transfer(2, 1, 500, key="confirm:big") is None
        assert store.points.get_transfer(keyed_id("confirm:big")) is None
        for uid in (1, 2):
            assert sum(store.points.earned_by_kind(uid).values()) == store.points.balance(uid)

    def test_keyed_withdrawal_debits_once(self, store):
        add_users(store, 1, points=100)
        first = store.points.create_withdrawal(1, 60, "0xW", key="confirm:w1")
        assert store.points.create_withdrawal(1, 60, "0xW", key="confirm:w1") == first
        assert first.id == keyed_id("confirm:w1") and store.points.balance(1) == 40
        assert [w.id for w in store.points.withdrawals_for(1)] == [first.id]
        assert store.points.create_withdrawal(1, 60, "0xW", key="confirm:w2") is None
        assert sum(store.points.earned_by_kind(1).values()) == store.points.balance(1)

    def test_withdrawals(self, store):
        add_users(store, 1, points=100)
        assert store.points.create_withdrawal(1, 101, "0xW") is None
        first = store.points.create_withdrawal(1, 60, "0xW")
        second = store.points.create_withdrawal(1, 40, "0xW")
        assert store.points.balance(1) == 0 and first.status == "pending"
        assert [w.id for w in store.points.list_withdrawals("pending")] == [first.id, second.id]
        assert store.points.mark_withdrawal_paid(first.id, "0xhash") is True
        assert store.points.mark_withdrawal_paid(first.id) is False
        assert store.points.mark_withdrawal_failed(first.id) is False
        assert store.points.mark_withdrawal_failed(second.id, "rpc down") is True
        assert store.points.mark_withdrawal_failed(second.id) is False
        assert store.points.balance(1) == 40
        got = store.points.get_withdrawal(second.id)
        assert got.status == "failed" and got.refunded and got.note == "rpc down"
        assert store.points.get_withdrawal(first.id).tx_hash == "0xhash"
        assert [w.id for w in store.points.withdrawals_for(1)] == [second.id, first.id]
        assert sum(store.points.earned_by_kind(1).values()) == store.points.balance(1)

    # ---- tickets, fingerprints, settings ----
    def test_tickets_rate_rule_and_replies(self, store):
        first = store.tickets.open(1, "technical", "help", at=1000.0)
        assert store.tickets.open(1, "technical", "again", at=2000.0) is None
        assert store.tickets.open(1, "ban", "other category", at=2000.0) is not None
        assert store.tickets.open(1, "technical", "next day", at=1000.0 + 86401) is not None
        assert [t.text for t in store.tickets.list_open(limit=2)] == ["help", "other category"]
        assert store.tickets.reply(first.id, 99, "fixed") is True
        got = store.tickets.get(first.id)
        assert (got.status, got.reply, got.replied_by) == ("answered", "fixed", 99)
        assert store.tickets.close(first.id) is True and store.tickets.close(first.id) is False
        assert store.tickets.reply(first.id, 99, "late") is False
        assert [t.text for t in store.tickets.list_for_user(1)] == ["next day", "other category", "help"]

    def test_fingerprints_ttl(self, store):
        store.fingerprints.record(1, "hashA", "ip1")
        store.fingerprints.record(2, "hashA", "ip2")
        store.fingerprints.record(1, "hashA", "ip3")        # same pair: refreshed, not duplicated
        store.fingerprints.record(3, "hashA", at=time.time() - 100, ttl_s=10)   # expired
        assert store.fingerprints.users_with("hashA") == [1, 2]
        assert [f.ip_hash for f in store.fingerprints.for_user(1)] == ["ip3"]
        assert store.fingerprints.for_user(3) == []
        store.fingerprints.purge_expired()   # MongoDB's TTL monitor (and mongomock) may have removed it already
        assert store.stats()["counts"]["device_fingerprints"] == 2
        assert store.fingerprints.purge_expired() == 0
        assert [f.user_id for f in store.fingerprints.holders("hashA")] == [1, 2]    # first seen first
        store.fingerprints.record(1, "hashB")
        assert store.fingerprints.forget(1, keep="hashB") == 1
        assert [f.fingerprint_hash for f in store.fingerprints.for_user(1)] == ["hashB"]
        assert [f.user_id for f in store.fingerprints.holders("hashA")] == [2]
        assert store.fingerprints.forget(1) == 1 and store.fingerprints.for_user(1) == []

    def test_settings(self, store):
        assert store.settings.get("maintenance", False) is False
        store.settings.set("maintenance", True)
        store.settings.set("limits", {"transfer_max": 1000})
        store.settings.set("maintenance", False)
        assert store.settings.all() == {"limits": {"transfer_max": 1000}, "maintenance": False}
        store.settings.delete("limits")
        assert store.settings.get("limits") is None

    # ---- cross-cutting ----
    def test_writes_notify_listeners_and_count_round_trips(self, store):
        seen = []
        store.on_users_changed(seen.extend)
        store.round_trips.take()
        store.users.register(1)
        assert seen == []                      # a new user: nothing can have cached it
        store.points.credit(1, 5, "award")
        store.users.set_language(1, "en")
        store.users.touch_many({1: 5.0})       # by design: last_active does not invalidate caches
        assert seen == [1, 1]
        assert store.round_trips.take() >= 3 and store.round_trips.total >= 3

    def test_repair_finds_nothing_when_nothing_crashed(self, store):
        add_users(store, 1, 2, points=10)
        store.points.transfer(1, 2, 5)
        assert store.repair() == 0

    # ---- import (the Node bot migration) ----
    def test_import_records_keeps_ids_and_values_and_is_insert_only(self, store):
        from storage.records import LedgerEntry, Referral, Submission, Ticket, Transfer, User, Withdrawal
        users = [User(7, "Ann", points=30, total_earned=40, referral_code="ANN7", registered_at=1.0,
                      last_active_at=2.0, captcha_passed=True),
                 User(8, "bob", referred_by=7, registered_at=3.0, last_active_at=3.0, banned=True, ban_reason="x")]
        assert store.import_records("users", users) == (2, [])
        assert store.users.get(7) == users[0] and store.users.find_by_username("ann").id == 7
        assert store.users.find_by_referral_code("ANN7").id == 7 and store.users.get(8).is_banned()
        ledger = [LedgerEntry("n1", 7, 40, "task", "x", 40, 5.0), LedgerEntry("n2", 7, -10, "transfer_out", "", 30, 6.0)]
        assert store.import_records("point_transactions", ledger) == (2, [])
        assert store.points.earned_by_kind(7) == {"task": 40, "transfer_out": -10}
        assert store.points.history(7)[0].balance_after == 30
        assert store.import_records("referrals", [Referral(8, 7, 3.0, True)]) == (1, [])
        assert store.referrals.get(8).bonus_credited and store.referrals.count_by_referrer(7) == 1
        assert store.import_records("task_submissions", [Submission("s1", 7, "daily", "approved", completions=1,
                                                                    paid=True, created_at=4.0)]) == (1, [])
        assert store.submissions.get_for(7, "daily").status == "approved"
        assert store.import_records("transfers", [Transfer("t1", 7, 8, 10, 1, 9, 6.0)]) == (1, [])
        assert store.points.get_transfer("t1").net == 9
        assert store.import_records("withdrawals", [Withdrawal("w1", 7, 100, "0xabc", "failed", 7.0,
                                                               refunded=True)]) == (1, [])
        assert store.import_records("tickets", [Ticket("k1", 8, "technical", "help", "open", 8.0)]) == (1, [])
        assert [t.id for t in store.tickets.list_open()] == ["k1"]
        assert store.repair() == 0                       # imported failed withdrawals are not refunded again
        # a second run adds nothing and changes nothing
        changed = [User(7, "Other", points=999, registered_at=1.0, last_active_at=2.0)]
        assert store.import_records("users", changed) == (0, [])
        assert store.import_records("point_transactions", ledger) == (0, [])
        assert store.users.get(7) == users[0]

    def test_import_records_reports_unique_clashes(self, store):
        from storage.records import User
        store.users.register(1, referral_code="TAKEN")
        clash, fine = User(2, referral_code="TAKEN", registered_at=1.0, last_active_at=1.0), User(3, registered_at=1.0,
                                                                                                 last_active_at=1.0)
        inserted, rejected = store.import_records("users", [clash, fine])
        assert inserted == 1 and [r.id for r, _ in rejected] == [2] and "clashes" in rejected[0][1]
        assert store.users.get(3) is not None and store.users.get(2) is None

    # ---- claim nonces (WITHDRAW_MODE=claim) ----
    def test_claim_nonces_increase_per_user_and_repeat_per_withdrawal(self, store):
        assert store.claims.last_nonce(1) == 0
        assert [store.claims.reserve(w, 1) for w in ("w1", "w2", "w1", "w3")] == [1, 2, 1, 3]
        assert store.claims.reserve("w4", 2) == 1 and store.claims.last_nonce(1) == 3
        assert store.claims.import_last_nonce(3, 9) and not store.claims.import_last_nonce(3, 2)
        assert not store.claims.import_last_nonce(1, 50) and store.claims.reserve("w5", 3) == 10

    def test_claim_nonces_never_repeat_under_concurrency(self, store):
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as pool:
            nonces = list(pool.map(lambda i: store.claims.reserve(f"w{i}", 7), range(40)))
        assert sorted(nonces) == list(range(1, 41))

    def test_a_username_belongs_to_its_latest_holder(self, store):
        store.users.register(1, "Bob")
        store.users.register(2, "carol")
        seen = []
        store.on_users_changed(seen.extend)
        store.users.update_profile(1, "bob_new", "B", "", "en", False)      # 1 gave @bob up on Telegram
        store.users.update_profile(2, "BOB", "C", "", "en", False)          # 2 took it
        assert store.users.find_by_username("@bob").id == 2
        seen.clear()
        store.users.register(3, "bob")                                      # a newer holder still
        assert store.users.find_by_username("bob").id == 3
        assert store.users.get(2).username == "" and seen == [2]            # the stale holder, not the new 3
        assert store.users.find_by_username("bob_new").id == 1

    def test_counts_for_admin_stats_have_no_cap(self, store):
        add_users(store, 1, points=10_000)
        for _ in range(120):
            store.points.create_withdrawal(1, 1, "0xabc")
            store.tickets.open(1, f"c{_}", "help", min_interval_s=0)
        assert store.points.count_withdrawals("pending") == 120 and store.points.count_withdrawals("paid") == 0
        assert store.tickets.count_open() == 120
