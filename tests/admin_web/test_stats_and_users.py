"""Stats and the users screen: search by every kind of key, keyset pages, the profile with its ledger
and referrals pages, role rules."""
from __future__ import annotations

import pytest

from botrunner.redis_keys import GROUP
from tests.admin_web.conftest import ADMIN, KEYS


def test_stats_counts_and_the_pipeline_queue(site):
    for uid in (1, 2, 3):
        site.user(uid)
    site.store.users.set_captcha(1, True)
    site.store.referrals.record(1, 2)
    site.store.points.credit(1, 40, "award")
    site.store.submissions.submit(2, "t1", "proof")
    site.store.points.create_withdrawal(1, 15, "EQaddr")
    site.store.tickets.open(3, "other", "help me")
    site.pipeline.xgroup_create(KEYS.lane(2), GROUP, id="0", mkstream=True)          # as a worker's boot does
    site.pipeline.xadd(KEYS.lane(2), {"update_id": 5, "update": "{}"})                # one update waiting
    stats = site.as_role("viewer").get("/admin/api/stats").json()
    assert stats["ok"] and stats["users"] == {"total": 3, "today": 3, "verified": 1}
    assert (stats["referrals"], stats["points_issued"], stats["pending_submissions"], stats["pending_withdrawals"],
            stats["open_tickets"]) == (1, 40, 1, 1, 1)
    assert stats["queue"]["pending"] == 1 and stats["queue"]["dead_letters"] == 0 and stats["queue"]["lag"] >= 0


@pytest.fixture
def people(site):
    site.user(101, username="alice", first_name="Alice")
    site.user(102, username="bob", first_name="Bob")
    site.user(103, username="alfred", first_name="Zed")
    site.user(104, username="carol", first_name="Alina")
    site.store.users.set_wallet(102, "EQwallet102")
    site.store.users.set_referral_code(104, "CAROL")
    return site


@pytest.mark.parametrize("q, ids", [
    ("", [104, 103, 102, 101]), ("101", [101]), ("@BOB", [102]), ("EQwallet102", [102]), ("CAROL", [104]),
    ("al", [104, 103, 101]),                 # first name or username prefix, highest id first
    ("@nobody", []), ("zzz", []), ("%", []),
])
def test_search_by_every_key(people, q, ids):
    answer = people.as_role("viewer").get("/admin/api/users", params={"q": q})
    assert [u["id"] for u in answer.json()["items"]] == ids


def test_users_page_by_keyset_without_repeats(people):
    for uid in range(200, 212):
        people.user(uid)
    viewer = people.as_role("viewer")
    seen, after = [], None
    while True:
        page = viewer.get("/admin/api/users", params={"limit": 5, **({"after": after} if after else {})}).json()
        seen += [u["id"] for u in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 16
    assert viewer.get("/admin/api/users", params={"after": "x y"}).json()["field"] == "after"
    assert viewer.get("/admin/api/users", params={"q": "x" * 101}).json()["field"] == "q"


def test_a_users_profile_with_ledger_and_referrals_pages(people):
    site = people
    for i in range(25):
        site.store.points.credit(101, i + 1, "award", f"r{i}")
    for referred in range(300, 323):
        site.user(referred)
        site.store.referrals.record(101, referred)
    viewer = site.as_role("viewer")
    first = viewer.get("/admin/api/users/101").json()
    assert first["user"]["id"] == 101 and first["user"]["points"] == sum(range(1, 26))
    assert "unverified" in first["user"]["flags"] and first["user"]["username"] == "alice"
    assert len(first["ledger"]["items"]) == 20 and first["ledger"]["items"][0]["balance"] == 325
    second = viewer.get("/admin/api/users/101", params={"ledger_after": first["ledger"]["next"]}).json()
    assert len(second["ledger"]["items"]) == 5 and second["ledger"]["next"] is None
    amounts = [e["amount"] for e in first["ledger"]["items"] + second["ledger"]["items"]]
    assert sorted(amounts) == list(range(1, 26))
    refs = first["referrals"]
    more = viewer.get("/admin/api/users/101", params={"referrals_after": refs["next"]}).json()["referrals"]
    assert len(refs["items"]) == 20 and len(more["items"]) == 3 and more["next"] is None
    assert {r["id"] for r in refs["items"] + more["items"]} == set(range(300, 323))


def test_unknown_and_bad_user_ids(people):
    viewer = people.as_role("viewer")
    assert viewer.get("/admin/api/users/999").status_code == 404
    for bad in ("abc", "0", "-5", "9" * 30):
        answer = viewer.get(f"/admin/api/users/{bad}")
        assert answer.status_code == 400 and answer.json()["field"] == "id", bad
    assert viewer.get("/admin/api/users/101", params={"ledger_after": "nope"}).status_code == 400


def test_reading_users_writes_no_audit_rows(people):
    people.as_role("admin").get("/admin/api/users")
    people.as_role("admin").get(f"/admin/api/users/{ADMIN}")
    assert people.audit() == []
