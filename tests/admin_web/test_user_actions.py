"""Actions on a user: roles, CSRF, validation, the audit row with before/after, the ledger, and the
messages that reach the user through the bot (events on their lane, handled by the bot's router)."""
from __future__ import annotations

import pytest

from tests.admin_web.conftest import ADMIN, MODERATOR
from tests.handlers.harness import texts

UID = 501


@pytest.fixture
def member(site):
    site.user(UID, username="member", language_code="ru")
    site.store.points.credit(UID, 100, "award")
    return site


ACTIONS = [("points", {"amount": 5, "reason": "x"}), ("message", {"text": "hi"}),
           ("ban", {"reason": "spam", "duration_s": None}), ("unban", {}), ("clear-device", {})]


@pytest.mark.parametrize("action, body", ACTIONS + [("reset", {"confirm": True})])
def test_actions_need_a_session_a_role_and_csrf(member, action, body):
    path = f"/admin/api/users/{UID}/{action}"
    assert member.anonymous().post(path, json=body).status_code == 401
    assert member.as_role("viewer").post(path, json=body).status_code == 403
    if action == "reset":
        assert member.as_role("moderator").post(path, json=body).status_code == 403    # admin only
    no_csrf = member.as_role("admin")
    del no_csrf.headers["X-CSRF-Token"]
    assert no_csrf.post(path, json=body).status_code == 403
    assert member.audit() == [] and member.events() == []
    assert member.store.users.get(UID).points == 100


def test_points_go_through_the_ledger_with_an_audit_row(member):
    mod = member.as_role("moderator")
    answer = mod.post(f"/admin/api/users/{UID}/points", json={"amount": 25, "reason": "bug report"})
    assert answer.status_code == 200 and answer.json()["user"]["points"] == 125
    down = mod.post(f"/admin/api/users/{UID}/points", json={"amount": -40, "reason": "duplicate"}).json()
    assert down["user"]["points"] == 85
    ledger = member.store.points.history(UID, 10)
    assert [(e.amount, e.kind, e.reference) for e in ledger[:2]] == [
        (-40, "admin_debit", f"admin {MODERATOR}: duplicate"), (25, "award", f"admin {MODERATOR}: bug report")]
    [minus, plus] = member.audit("user.points")
    assert (plus.admin_id, plus.role, plus.target) == (MODERATOR, "moderator", f"user:{UID}")
    assert plus.before == {"points": 100} and plus.after == {"points": 125, "amount": 25, "reason": "bug report"}
    assert minus.before == {"points": 125} and minus.after["points"] == 85


def test_a_retried_points_request_moves_nothing_twice(member):
    mod = member.as_role("moderator")
    headers = {"Idempotency-Key": "click-7f3a"}
    first = mod.post(f"/admin/api/users/{UID}/points", json={"amount": 10, "reason": "r"}, headers=headers).json()
    again = mod.post(f"/admin/api/users/{UID}/points", json={"amount": 10, "reason": "r"}, headers=headers).json()
    assert first["user"]["points"] == 110 and first["replayed"] is False
    assert again["user"]["points"] == 110 and again["replayed"] is True
    assert len(member.audit("user.points")) == 1
    other = mod.post(f"/admin/api/users/{UID}/points", json={"amount": 10, "reason": "r"},
                     headers={"Idempotency-Key": "click-7f3b"}).json()
    assert other["user"]["points"] == 120


@pytest.mark.parametrize("body, field", [
    ({"amount": 0, "reason": "x"}, "amount"), ({"amount": "5", "reason": "x"}, "amount"),
    ({"amount": True, "reason": "x"}, "amount"), ({"amount": 10**10, "reason": "x"}, "amount"),
    ({"amount": 5}, "reason"), ({"amount": 5, "reason": "  "}, "reason"), ({"amount": 5, "reason": "x" * 201}, "reason"),
])
def test_points_are_validated(member, body, field):
    answer = member.as_role("moderator").post(f"/admin/api/users/{UID}/points", json=body)
    assert answer.status_code == 400 and answer.json()["field"] == field
    assert member.audit() == [] and member.store.users.get(UID).points == 100


def test_a_debit_never_overdraws(member):
    answer = member.as_role("moderator").post(f"/admin/api/users/{UID}/points", json={"amount": -101, "reason": "x"})
    assert answer.status_code == 409 and member.store.users.get(UID).points == 100 and member.audit() == []


def test_unknown_user_is_404(member):
    assert member.as_role("moderator").post("/admin/api/users/777/points",
                                            json={"amount": 1, "reason": "x"}).status_code == 404


def test_a_dm_goes_through_the_bot_once_in_the_users_language_lane(member):
    mod = member.as_role("moderator")
    answer = mod.post(f"/admin/api/users/{UID}/message", json={"text": "Your payout is on its way"})
    assert answer.json() == {"ok": True, "queued": True}
    [event] = member.events("admin_web.notice")
    assert event["botrunner_event"]["chat"]["id"] == UID and event["update_id"] < 0
    out = member.deliver()
    assert out == [("sendMessage", {"chat_id": UID, "text": "Your payout is on its way"})]
    [row] = member.audit("user.message")
    assert row.after["text"] == "Your payout is on its way" and row.after["event"] == event["update_id"]
    assert mod.post(f"/admin/api/users/{UID}/message", json={"text": ""}).json()["field"] == "text"
    assert mod.post(f"/admin/api/users/{UID}/message", json={"text": "x" * 4097}).json()["field"] == "text"


def test_ban_for_a_duration_with_notice_then_unban(member):
    mod = member.as_role("moderator")
    banned = mod.post(f"/admin/api/users/{UID}/ban", json={"reason": "spam", "duration_s": 3600, "notify": True}).json()
    assert banned["user"]["banned"] and banned["user"]["banned_until"] > 0 and "banned" in banned["user"]["flags"]
    assert member.store.users.get(UID).is_banned()
    [notice] = texts(member.deliver())
    assert notice.startswith("⛔ Вы заблокированы. Причина: spam.")      # in the user's language (ru)
    [row] = member.audit("user.ban")
    assert row.before["banned"] is False and row.after["banned"] is True and row.after["reason"] == "spam"
    assert member.rt.redis.zscore(member.rt.key("bans", "ends"), str(UID)) is not None     # ban_ends will lift it
    unbanned = mod.post(f"/admin/api/users/{UID}/unban", json={"notify": True}).json()
    assert unbanned["user"]["banned"] is False
    assert member.rt.redis.zscore(member.rt.key("bans", "ends"), str(UID)) is None
    assert len(member.audit("user.unban")) == 1


def test_a_silent_forever_ban_and_admins_cannot_be_banned(member):
    mod = member.as_role("moderator")
    answer = mod.post(f"/admin/api/users/{UID}/ban", json={"reason": "fraud", "duration_s": None, "notify": False})
    assert answer.json()["user"]["banned_until"] is None and member.events() == []
    member.user(ADMIN)
    assert mod.post(f"/admin/api/users/{ADMIN}/ban", json={"reason": "x"}).status_code == 409
    assert mod.post(f"/admin/api/users/{UID}/ban", json={"reason": "x", "duration_s": 5}).json()["field"] == "duration_s"
    assert mod.post(f"/admin/api/users/{UID}/ban", json={"reason": "x", "notify": "yes"}).json()["field"] == "notify"


def test_reset_needs_confirmation_and_zeroes_the_balance_in_the_ledger(member):
    admin = member.as_role("admin")
    assert admin.post(f"/admin/api/users/{UID}/reset", json={}).json()["field"] == "confirm"
    answer = admin.post(f"/admin/api/users/{UID}/reset", json={"confirm": True}).json()
    assert answer["user"]["points"] == 0 and answer["user"]["total_earned"] == 100
    assert member.store.points.history(UID, 1)[0].amount == -100
    [row] = member.audit("user.reset")
    assert row.before == {"points": 100} and row.after == {"points": 0}


def test_clear_device_forgets_devices_and_lifts_the_refusal(member):
    member.store.fingerprints.record(UID, "f" * 64)
    member.store.users.set_captcha(UID, False, "device-taken")
    answer = member.as_role("moderator").post(f"/admin/api/users/{UID}/clear-device", json={}).json()
    assert answer["forgotten"] == 1 and "device_taken" not in answer["user"]["flags"]
    assert member.store.fingerprints.for_user(UID) == []
    [row] = member.audit("user.clear_device")
    assert row.before == {"devices": ["f" * 64], "captcha_state": "device-taken"}
