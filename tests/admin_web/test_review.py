"""Submissions and withdrawals: queues by keyset, approve/reject paying once and telling the user,
paid/fail with the refund, 409 for what is no longer pending, role rules and audit rows."""
from __future__ import annotations

import pytest

from storage.records import Task
from tests.admin_web.conftest import MODERATOR
from tests.handlers.harness import texts


@pytest.fixture
def queue(site):
    site.store.tasks.create(Task("follow", "proof", "Follow us", 30))
    for uid in range(601, 606):
        site.user(uid)
        site.store.submissions.submit(uid, "follow", f"https://x.com/u{uid}")
    return site


def test_the_submission_queue_pages_oldest_first(queue):
    viewer = queue.as_role("viewer")
    first = viewer.get("/admin/api/submissions", params={"limit": 3}).json()
    rest = viewer.get("/admin/api/submissions", params={"limit": 3, "after": first["next"]}).json()
    assert [s["user_id"] for s in first["items"] + rest["items"]] == [601, 602, 603, 604, 605]
    assert rest["next"] is None and first["items"][0]["task_title"] == "Follow us"
    assert first["items"][0]["reward"] == 30 and first["items"][0]["proof"] == "https://x.com/u601"
    assert viewer.get("/admin/api/submissions", params={"status": "nope"}).json()["field"] == "status"
    assert viewer.get("/admin/api/submissions", params={"status": "approved"}).json()["items"] == []


def test_approve_pays_once_tells_the_user_and_is_audited(queue):
    sub = queue.store.submissions.get_for(601, "follow")
    mod = queue.as_role("moderator")
    answer = mod.post(f"/admin/api/submissions/{sub.id}/approve", json={"note": "nice"})
    assert answer.status_code == 200 and answer.json()["submission"]["status"] == "approved"
    assert queue.store.users.get(601).points == 30
    again = mod.post(f"/admin/api/submissions/{sub.id}/approve", json={})
    assert again.status_code == 409 and queue.store.users.get(601).points == 30
    assert texts(queue.deliver()) == ['✅ Your proof for "Follow us" was approved: +30 points.']
    [row] = queue.audit("submission.approve")
    assert (row.admin_id, row.target, row.before, row.after) == (
        MODERATOR, f"submission:{sub.id}", {"status": "pending"}, {"status": "approved", "reward": 30, "note": "nice"})


def test_reject_with_a_note(queue):
    sub = queue.store.submissions.get_for(602, "follow")
    queue.as_role("moderator").post(f"/admin/api/submissions/{sub.id}/reject", json={"note": "link is dead"})
    assert queue.store.submissions.get(sub.id).status == "rejected" and queue.store.users.get(602).points == 0
    assert texts(queue.deliver()) == ['❌ Your proof for "Follow us" was rejected. Note: link is dead']


def test_review_rules(queue):
    sub = queue.store.submissions.get_for(603, "follow")
    assert queue.as_role("viewer").post(f"/admin/api/submissions/{sub.id}/approve", json={}).status_code == 403
    mod = queue.as_role("moderator")
    assert mod.post("/admin/api/submissions/nope/approve", json={}).status_code == 404
    assert mod.post(f"/admin/api/submissions/{sub.id}/reject", json={"note": 5}).json()["field"] == "note"
    assert queue.audit() == [] and queue.events() == []


@pytest.fixture
def payouts(site):
    for uid in (701, 702, 703):
        site.user(uid)
        site.store.points.credit(uid, 500, "award")
        site.store.points.create_withdrawal(uid, 200, f"EQaddr{uid}")
    return site


def test_withdrawals_paid_and_failed_with_refund(payouts):
    [first, second, third] = payouts.as_role("viewer").get("/admin/api/withdrawals").json()["items"]
    assert [w["user_id"] for w in (first, second, third)] == [701, 702, 703]
    admin = payouts.as_role("admin")
    assert payouts.as_role("moderator").post(f"/admin/api/withdrawals/{first['id']}/paid",
                                             json={"tx_hash": "0xabc"}).status_code == 403
    assert admin.post(f"/admin/api/withdrawals/{first['id']}/paid", json={}).json()["field"] == "tx_hash"
    paid = admin.post(f"/admin/api/withdrawals/{first['id']}/paid", json={"tx_hash": "0xabc"}).json()
    assert paid["withdrawal"]["status"] == "paid" and paid["withdrawal"]["tx_hash"] == "0xabc"
    failed = admin.post(f"/admin/api/withdrawals/{second['id']}/fail", json={"note": "bad address"}).json()
    assert failed["withdrawal"]["status"] == "failed" and failed["withdrawal"]["refunded"] is True
    assert payouts.store.users.get(702).points == 500 and payouts.store.users.get(701).points == 300
    assert admin.post(f"/admin/api/withdrawals/{second['id']}/fail", json={}).status_code == 409
    assert payouts.store.users.get(702).points == 500                            # refunded once
    assert texts(payouts.deliver()) == ["✅ Your withdrawal of 200 points was paid. 0xabc",
                                        "❌ Your withdrawal of 200 points failed and was refunded. bad address"]
    assert [w["user_id"] for w in payouts.as_role("viewer").get("/admin/api/withdrawals").json()["items"]] == [703]
    [row] = payouts.audit("withdrawal.fail")
    assert row.before == {"status": "pending"} and row.after["refunded"] is True
