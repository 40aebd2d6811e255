"""Every admin command refuses non-admins (whatever the arguments) and works for ADMIN_USER_IDS."""
from __future__ import annotations

import csv
import gzip
import io

import pytest

from handlers.admin import ADMIN_COMMANDS
from handlers.broadcast import COMMANDS as BROADCAST_COMMANDS
from tests.handlers.harness import ADMIN, joined

ALL_ADMIN = sorted({name for names in ADMIN_COMMANDS for name in names} |
                   {"ban", "unban", "maintenance", "setting", "settings", "flag", "tickets", "reply", "cleardevice"} |
                   set(BROADCAST_COMMANDS))


def test_the_list_covers_every_registered_admin_command():
    from handlers.app import router
    registered = {name for r in router.walk() for name, route in r.commands.items() if route.flags.get("admin")}
    assert registered == set(ALL_ADMIN)


@pytest.mark.parametrize("command", ALL_ADMIN)
def test_non_admin_is_refused(bot, command):
    bot.join(1)
    bot.join(2)
    before = bot.rt.store.points.balance(2)
    out = bot.command(1, command, "2 500 because")
    assert joined(out) == "⛔ This command is for admins only."
    assert bot.rt.store.points.balance(2) == before and not bot.rt.store.users.get(2).banned
    assert not bot.rt.switch("maintenance")


def test_forged_admin_button_is_refused(bot):
    bot.join(1)
    out = bot.press(1, bot.rt.signer.sign(ADMIN, "adm:ap:abc"))      # an admin's button, pressed by user 1
    assert "not valid" in joined(out)
    out = bot.click(1, "adm:ap:abc")                                  # signed for 1, but 1 is no admin
    assert "admins only" in joined(out)


def test_no_default_admin(make_bot):
    bot = make_bot(ADMIN_USER_IDS="")
    bot.join(ADMIN)
    assert "admins only" in joined(bot.command(ADMIN, "admin"))


def test_award_is_idempotent_per_update_and_notifies(bot):
    bot.join(2)
    out = bot.command(ADMIN, "award", "2 40 contest")
    assert "Awarded 40" in joined(out) and any(p.get("chat_id") == 2 for _, p in out)
    assert bot.rt.store.points.balance(2) == 40
    update = {"update_id": 777, "message": {"message_id": 777, "date": 0, "chat": {"id": ADMIN, "type": "private"},
              "from": {"id": ADMIN, "is_bot": False, "first_name": "A"}, "text": "/award 2 5",
              "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
    bot.run(update)
    bot.run(update)                                  # the same update redelivered after a crash
    assert bot.rt.store.points.balance(2) == 45
    assert "Usage" in joined(bot.command(ADMIN, "award", "2 -5"))
    assert "Usage" in joined(bot.command(ADMIN, "award", "nobody 5"))


def test_stats_lookup_export(bot):
    bot.join(2, username="=cmd")
    bot.join(ADMIN)
    assert "Users: 2" in joined(bot.command(ADMIN, "admin"))
    assert "User 2" in joined(bot.command(ADMIN, "user", "2"))
    uploads = []
    bot.rt.api.send_document = lambda chat, path, name, caption="": uploads.append((chat, name, path.read_bytes()))
    assert "2 users" in joined(bot.command(ADMIN, "export"))
    (chat, name, data), = uploads
    assert chat == ADMIN and name.endswith(".csv.gz")
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(data).decode())))
    assert {r["id"] for r in rows} == {"2", str(ADMIN)}
    assert next(r for r in rows if r["id"] == "2")["username"] == "'=cmd"     # no spreadsheet formulas


def test_ban_with_expiry_notice_and_unban(bot):
    bot.join(2)
    out = bot.command(ADMIN, "ban", "2 1h spamming links")
    assert any(p.get("chat_id") == 2 and "banned" in p["text"] for _, p in out)
    assert "spamming links" in joined(bot.command(2, "menu"))
    assert bot.command(2, "menu") == []                            # the notice is throttled
    bot.command(ADMIN, "unban", "2")
    assert "Balance" in joined(bot.command(2, "menu"))
    bot.join(ADMIN)
    assert "cannot be banned" in joined(bot.command(ADMIN, "ban", str(ADMIN)))


def test_maintenance_blocks_users_not_admins(bot):
    bot.join(2)
    bot.join(ADMIN)
    bot.command(ADMIN, "maintenance", "on back at 5")
    bot.rt._switches_at = 0
    assert "back at 5" in joined(bot.command(2, "menu"))
    assert "Balance" in joined(bot.command(ADMIN, "menu"))
    bot.command(ADMIN, "maintenance", "off")
    assert "Balance" in joined(bot.command(2, "menu"))


def test_runtime_settings_persist(bot):
    bot.join(2)
    assert "transfer_enabled = False" in joined(bot.command(ADMIN, "setting", "transfer_enabled off"))
    assert bot.rt.store.settings.get("transfer_enabled") is False
    assert "disabled" in joined(bot.command(2, "transfer"))
    assert "Bad value" in joined(bot.command(ADMIN, "setting", "min_withdraw_points lots"))


def test_flag_sends_the_user_back_to_the_captcha(bot):
    bot.join(2)
    bot.command(ADMIN, "flag", "2")
    assert "captcha" in joined(bot.command(2, "menu")).lower()
