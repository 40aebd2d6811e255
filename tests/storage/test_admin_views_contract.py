"""The admin web's keyset pages and counts, on every backend (the `store` fixture): every row once,
in order, across pages, also when rows share a timestamp."""
from __future__ import annotations

NOW = 1_700_000_000.0


def walk(fetch, key, limit=2):
    """Every row of a keyset-paged list, page by page (the cursor made from the last row)."""
    rows, cursor = [], None
    while True:
        page = fetch(cursor, limit)
        rows += page
        if len(page) < limit:
            return rows
        cursor = key(page[-1])


def users(store, n=7):
    for uid in range(1, n + 1):
        store.users.register(uid, f"name{uid}", first_name="Anna" if uid % 2 else "Bob", at=NOW + uid)


def test_counts(store):
    users(store)
    store.users.set_captcha(1, True)
    store.users.set_captcha(2, True)
    store.referrals.record(1, 3)
    assert store.admin_views.user_counts() == {"total": 7, "verified": 2, "referred": 1}


def test_users_newest_id_first_with_a_name_prefix(store):
    users(store)
    every = walk(lambda c, n: store.admin_views.users_page(c, n), lambda u: u.id)
    assert [u.id for u in every] == [7, 6, 5, 4, 3, 2, 1]
    annas = walk(lambda c, n: store.admin_views.users_page(c, n, "an"), lambda u: u.id)
    assert [u.id for u in annas] == [7, 5, 3, 1]
    assert [u.id for u in store.admin_views.users_page(None, 10, "NAME4")] == [4]        # username prefix
    assert store.admin_views.users_page(None, 10, "%") == [] and store.admin_views.users_page(None, 10, ".*") == []


def test_banned_now_and_captcha_state(store):
    users(store)
    store.users.ban(2, "spam")
    store.users.ban(3, "spam", until=NOW - 10)          # expired
    store.users.ban(5, "spam", until=4_000_000_000.0)
    store.users.set_captcha(6, False, "device-taken")
    assert [u.id for u in store.admin_views.banned_page(None, 10, NOW)] == [5, 2]
    assert [u.id for u in store.admin_views.banned_page(5, 10, NOW)] == [2]
    assert [u.id for u in store.admin_views.users_in_captcha_state("device-taken", None, 10)] == [6]


def test_ledger_and_referrals_newest_first(store):
    users(store)
    for amount in range(1, 6):
        store.points.credit(1, amount, "award")
    ledger = walk(lambda c, n: store.admin_views.ledger_page(1, c, n), lambda e: (e.created_at, e.id))
    assert sorted(e.amount for e in ledger) == [1, 2, 3, 4, 5] and len({e.id for e in ledger}) == 5
    assert [e.created_at for e in ledger] == sorted((e.created_at for e in ledger), reverse=True)
    for referred in (2, 3, 4, 5):
        store.referrals.record(1, referred, at=NOW + (referred // 2))   # 2 and 3 share a timestamp
    referred = walk(lambda c, n: store.admin_views.referrals_page(1, c, n), lambda r: (r.created_at, r.referred_id))
    assert [r.referred_id for r in referred] == [5, 4, 3, 2]


def test_queues_oldest_first_across_equal_timestamps(store):
    users(store)
    for task in ("t1", "t2", "t3"):
        for uid in (1, 2):
            store.submissions.submit(uid, task, "proof", at=NOW)            # six rows, one timestamp
    store.submissions.submit(3, "t1", "proof", at=NOW - 5)
    queue = walk(lambda c, n: store.admin_views.submissions_page("pending", c, n), lambda s: (s.created_at, s.id))
    assert len(queue) == 7 and len({s.id for s in queue}) == 7 and queue[0].user_id == 3
    assert store.admin_views.submissions_page("approved", None, 10) == []
    for uid in (1, 2, 3):
        store.points.credit(uid, 100, "award")
        store.points.create_withdrawal(uid, 10, f"EQaddr{uid}")
    store.tickets.open(4, "other", "help")
    store.tickets.open(5, "other", "help")
    withdrawals = walk(lambda c, n: store.admin_views.withdrawals_page("pending", c, n), lambda w: (w.created_at, w.id))
    assert [w.user_id for w in withdrawals] == [1, 2, 3]
    tickets = walk(lambda c, n: store.admin_views.tickets_page("open", c, n), lambda t: (t.created_at, t.id), limit=1)
    assert [t.user_id for t in tickets] == [4, 5]



def test_a_task_definition_can_be_deleted(store):
    from storage.records import Task
    store.tasks.create(Task("gone", "link", "Visit", 5, target="https://example.org"))
    store.tasks.create(Task("kept", "link", "Visit too", 5, target="https://example.org"))
    assert store.tasks.delete("gone") is True and store.tasks.delete("gone") is False
    assert store.tasks.get("gone") is None and [t.id for t in store.tasks.list(active_only=False)] == ["kept"]
