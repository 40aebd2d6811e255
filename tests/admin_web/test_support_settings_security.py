"""Tickets (reply through the bot, close), runtime settings (validated with bounds, read by the bot),
the security screen (banned, device refusals, the gate's recent refusals)."""
from __future__ import annotations

import pytest

from tests.admin_web.conftest import ADMIN, MODERATOR, NOBODY
from tests.handlers.harness import joined, texts


@pytest.fixture
def desk(site):
    for uid in (801, 802, 803):
        site.user(uid)
        site.store.tickets.open(uid, "other", f"help {uid}")
    return site


def test_tickets_reply_through_the_bot_then_close(desk):
    [first, *_] = desk.as_role("viewer").get("/admin/api/tickets").json()["items"]
    assert first["user_id"] == 801 and first["text"] == "help 801"
    mod = desk.as_role("moderator")
    answer = mod.post(f"/admin/api/tickets/{first['id']}/reply", json={"text": "Fixed, try again"}).json()
    assert answer["ticket"]["status"] == "answered" and answer["ticket"]["replied_by"] == MODERATOR
    assert texts(desk.deliver()) == [f"💬 Support answered ticket #{first['id']}:\nFixed, try again"]
    assert [t["user_id"] for t in desk.as_role("viewer").get("/admin/api/tickets").json()["items"]] == [802, 803]
    answered = desk.as_role("viewer").get("/admin/api/tickets", params={"status": "answered"}).json()["items"]
    assert [t["id"] for t in answered] == [first["id"]]
    assert mod.post(f"/admin/api/tickets/{first['id']}/close").json()["ticket"]["status"] == "closed"
    assert mod.post(f"/admin/api/tickets/{first['id']}/close").status_code == 409
    assert mod.post(f"/admin/api/tickets/{first['id']}/reply", json={"text": "more"}).status_code == 409
    assert [r.action for r in desk.audit()] == ["ticket.close", "ticket.reply"]


def test_ticket_rules(desk):
    [ticket, *_] = desk.as_role("viewer").get("/admin/api/tickets").json()["items"]
    assert desk.as_role("viewer").post(f"/admin/api/tickets/{ticket['id']}/close").status_code == 403
    mod = desk.as_role("moderator")
    assert mod.post(f"/admin/api/tickets/{ticket['id']}/reply", json={"text": ""}).json()["field"] == "text"
    assert mod.post("/admin/api/tickets/nope/close").status_code == 404
    page = desk.as_role("viewer").get("/admin/api/tickets", params={"limit": 2}).json()
    rest = desk.as_role("viewer").get("/admin/api/tickets", params={"limit": 2, "after": page["next"]}).json()
    assert [t["user_id"] for t in page["items"] + rest["items"]] == [801, 802, 803] and rest["next"] is None


def test_settings_list_and_change_reach_the_bot(site):
    admin = site.as_role("admin")
    assert site.as_role("moderator").get("/admin/api/settings").status_code == 403
    items = {i["name"]: i for i in admin.get("/admin/api/settings").json()["items"]}
    assert items["maintenance"]["kind"] == "bool" and items["maintenance"]["value"] is False
    assert (items["min_withdraw_points"]["min"], items["min_withdraw_points"]["max"]) == (1, 10**12)
    assert items["maintenance"]["env"] == "MAINTENANCE_MODE" and items["maintenance"]["help"]
    answer = admin.patch("/admin/api/settings", json={"maintenance": True, "maintenance_message": "Back at 18:00"})
    changed = {i["name"]: i["value"] for i in answer.json()["items"]}
    assert changed["maintenance"] is True and changed["maintenance_message"] == "Back at 18:00"
    site.user(NOBODY)
    site.rt._switches_at = 0.0                         # this worker's cache; others see it within seconds
    assert joined(site.bot.command(NOBODY, "menu")) == "Back at 18:00"
    rows = {r.action: r for r in site.audit()}
    assert rows["setting.maintenance"].before is False and rows["setting.maintenance"].after is True


def test_the_daily_bonus_setting_is_the_daily_tasks_reward(site):
    from handlers.task_catalog import sync_default_tasks
    sync_default_tasks(site.store, site.settings)
    site.as_role("admin").patch("/admin/api/settings", json={"daily_bonus": 33})
    assert site.store.tasks.get("daily").reward == 33
    [row] = site.audit("setting.daily_bonus")
    assert (row.before, row.after) == (10, 33)


@pytest.mark.parametrize("body, field", [
    ({"maintenance": "on"}, "maintenance"), ({"min_withdraw_points": 0}, "min_withdraw_points"),
    ({"referral_bonus": 10**7}, "referral_bonus"), ({"daily_bonus": 1.5}, "daily_bonus"),
    ({"maintenance_message": "x" * 501}, "maintenance_message"), ({"bot_token": "x"}, "bot_token"),
    ({"maintenance": True, "referral_bonus": -1}, "referral_bonus"), ({}, "body"),
])
def test_settings_are_validated_before_anything_is_written(site, body, field):
    answer = site.as_role("admin").patch("/admin/api/settings", json=body)
    assert answer.status_code == 400 and answer.json()["field"] == field
    assert site.store.settings.get("maintenance") is None and site.audit() == []


def test_security_shows_bans_device_refusals_and_the_gates_refusals(site):
    for uid in (901_001, 901_002, 901_003):
        site.user(uid)
    site.store.users.ban(901_001, "fraud")
    site.store.users.set_captcha(901_002, False, "device-taken")
    site.bot.command(901_003, "award", "1 5")                   # a non-admin trying an admin command
    site.bot.command(901_001, "menu")                           # a banned user writing
    answer = site.as_role("viewer").get("/admin/api/security").json()
    assert [u["id"] for u in answer["banned"]["items"]] == [901_001]
    assert answer["banned"]["items"][0]["ban_reason"] == "fraud"
    assert [u["id"] for u in answer["device_taken"]["items"]] == [901_002]
    kinds = [(r["kind"], r["user_id"]) for r in answer["refusals"]]
    assert kinds == [("banned", 901_001), ("admin_only", 901_003)]           # newest first
    assert ADMIN not in [r["user_id"] for r in answer["refusals"]]
