"""The admin panel in headless chromium against the live bot (tests/admin_web/browser_fixtures.py):
signed in through the link the bot sends for /login, an operator finds a user, awards points,
approves a submission and sees both in the audit log; a broadcast from the panel runs to done with
its progress bar; a viewer sees no admin-only actions and cannot use them; every page carries the
strict CSP and runs no inline script; without a session every page says to send /login.

With ADMIN_DOCS_SCREENSHOTS=1 the tests also write docs/images/admin-<screen>.png.
"""
from __future__ import annotations

import httpx
import pytest
from eth_utils import to_checksum_address

from handlers.admin_web.http import CSP
from handlers.support import Category
from tests.admin_web import browser_fixtures
from tests.admin_web.browser_fixtures import Panel
from tests.handlers.live import ADMIN, number_after, text_of
from tests.runner.conftest import wait_until

pytestmark = pytest.mark.slow
live, panel = browser_fixtures.live, browser_fixtures.panel          # the module's fixtures
VIEWER = 2301
SCREENS = ("/admin/", "/admin/users", "/admin/tasks", "/admin/submissions", "/admin/withdrawals", "/admin/tickets",
           "/admin/broadcasts", "/admin/security", "/admin/settings", "/admin/roles", "/admin/audit")


def submit_proof(bot, uid: int, proof: str) -> str:
    """`uid` sends a proof for the X follow task; the submission's id from the bot's answer."""
    bot.tap(uid, "task:p:x_follow", "Send your proof")
    after = bot.last_index(uid)
    bot.say(uid, proof)
    return number_after(r"#(\w+)", text_of(bot.wait(uid, "Submitted", after)))


def open_ticket(bot, uid: int, text: str) -> str:
    """`uid` opens a technical support ticket; its id from the bot's answer."""
    bot.ask(uid, "support", "")
    bot.tap(uid, Category("technical").pack(), "")
    after = bot.last_index(uid)
    bot.say(uid, text)
    return number_after(r"#(\w+)", text_of(bot.wait(uid, "#", after)))


def test_without_a_session_every_page_says_to_send_login(live, panel: Panel):
    for path in ("/admin/", "/admin/users", "/admin/users/900", "/admin/audit", "/admin/roles"):
        panel.driver.get(live.base + path)
        assert panel.driver.current_url == live.base + "/admin/login"
        assert "/login" in panel.find("body").text
        assert panel.js("return document.body.dataset.texts") is None        # no panel frame at all


def test_find_a_user_award_points_approve_a_submission_see_the_audit_rows(live, panel: Panel):
    bot = live.bot
    for uid in (2101, 2102, 2103):
        bot.enter(uid)
    submission = submit_proof(bot, 2102, "@zelda_2102")
    submit_proof(bot, 2103, "@link_2103")
    open_ticket(bot, 2103, "The verify button does nothing on my phone")
    panel.sign_in()
    wait_until(lambda: panel.find("[data-stat='users.total']").text not in ("…", ""), 30, 0.1, what="the dashboard")
    panel.shoot("dashboard")

    panel.open("/admin/users")
    panel.fill("#search", q="2101")
    panel.submit("#search")
    panel.wait_row("#users", "U2101")
    panel.shoot("users")
    panel.find("#users tbody a[href='/admin/users/2101']").click()
    panel.ready()
    wait_until(lambda: panel.find("[data-field=id]").text == "2101", 30, 0.1, what="the profile")
    panel.fill("#points-form", amount="50", reason="contest winner")
    panel.submit("#points-form")
    assert "by 50" in panel.confirm()
    panel.flash("Done.")
    panel.wait_row("#ledger", "contest winner")
    assert bot.balance(2101) == 50
    panel.shoot("user")

    panel.open("/admin/submissions")
    row = panel.wait_row("#queue", submission)
    assert "@zelda_2102" in row
    panel.shoot("submissions")
    panel.find(f"#queue tr[data-id='{submission}'] button[data-action=approve]").click()
    assert submission in panel.confirm(note="looks right")
    wait_until(lambda: not panel.all(f"#queue tr[data-id='{submission}']"), 30, 0.1, what="the approved row gone")
    bot.wait(2102, "was approved: +15 points")
    assert bot.balance(2102) == 15

    panel.open("/admin/audit")
    panel.wait_row("#audit", "user:2101")
    panel.wait_row("#audit", submission)
    assert "audit.csv" in panel.find("#export-audit").get_attribute("href")


def test_a_broadcast_from_the_panel_shows_its_progress_to_done(live, panel: Panel):
    bot = live.bot
    recipients = list(range(2201, 2231))   # 6 s at SEND_GLOBAL_RATE 5, the page refreshed every 1 s: seen moving
    for uid in recipients:
        bot.enter(uid)
    panel.sign_in()
    panel.open("/admin/broadcasts")
    text = "Season 2 starts tomorrow: double points for every task."
    panel.fill("#compose", text=text, ids=", ".join(map(str, recipients)))
    panel.find("#preview").click()
    wait_until(lambda: panel.find("#preview-count").text == "30 recipients", 30, 0.1, what="the previewed count")
    panel.submit("#compose")
    assert "30 recipients" in panel.confirm()
    wait_until(lambda: panel.js("return document.getElementById('broadcast').dataset.status") == "draft", 30, 0.1,
               what="the draft")
    panel.find("[data-control=start]").click()
    assert "30 recipients" in panel.confirm()
    seen = []

    def progress() -> bool:
        value, status = panel.js("var b = document.getElementById('broadcast');"
                                 "return [document.getElementById('bc-progress').value, b.dataset.status];")
        seen.append(value)
        if status == "running" and 0 < value < 30:
            panel.shoot("broadcasts")
        return status == "done"
    wait_until(progress, 90, 0.2, what="the broadcast done")
    assert seen == sorted(seen) and seen[-1] == 30 and panel.find("#bc-done").text == "30"
    assert any(0 < v < 30 for v in seen)                                # the bar moved, not jumped
    for uid in recipients:
        assert bot.count(uid, text) == 1
    panel.wait_row("#history", "done")


def test_a_viewer_sees_no_admin_actions_and_cannot_use_them(live, panel: Panel):
    bot = live.bot
    bot.enter(VIEWER)
    bot.enter(2302)
    submission = submit_proof(bot, 2302, "@viewer_2302")
    panel.sign_in()                                                    # the super admin grants the role
    panel.open("/admin/roles")
    panel.fill("#grant", telegram_id=str(VIEWER))
    panel.find("#grant select[name=role]").send_keys("viewer")
    panel.submit("#grant")
    assert str(VIEWER) in panel.confirm()
    panel.wait_row("#roles", str(VIEWER))
    panel.shoot("roles")

    panel.sign_in(VIEWER)
    nav = panel.find("nav").get_attribute("textContent")
    assert "Users" in nav and "Settings" not in nav and "Roles" not in nav and "Audit" not in nav
    panel.open("/admin/users/2302")
    wait_until(lambda: panel.find("[data-field=id]").text == "2302", 30, 0.1, what="the profile")
    assert not panel.all("#points-form") and not panel.all("#ban-form") and not panel.all("#reset")
    panel.open("/admin/submissions")
    panel.wait_row("#queue", submission)
    assert not panel.all("#queue button[data-action]")
    panel.open("/admin/broadcasts")
    assert not panel.all("#compose") and not panel.all("[data-control]")
    panel.driver.get(live.base + "/admin/settings")
    assert "cannot open this screen" in panel.find("body").text
    status = panel.driver.execute_async_script(
        "var done = arguments[0];"
        "fetch('/admin/api/me', {credentials: 'same-origin'}).then(r => r.json()).then(me =>"
        " fetch('/admin/api/users/2302/points', {method: 'POST', credentials: 'same-origin',"
        "  headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf},"
        "  body: JSON.stringify({amount: 5, reason: 'x'})})).then(r => done(r.status));")
    assert status == 403
    assert bot.balance(2302) == 0


def test_every_page_has_the_strict_csp_and_runs_no_inline_script(live, panel: Panel):
    live.bot.enter(2401)
    panel.sign_in()
    cookies = {c["name"]: c["value"] for c in panel.driver.get_cookies()}
    with httpx.Client(cookies=cookies, timeout=15, follow_redirects=False) as http:
        for path in (*SCREENS, "/admin/users/2401", "/admin/static/admin.js", "/admin/static/admin.css", "/admin/login"):
            answer = http.get(live.base + path)
            assert answer.status_code == 200, path
            assert answer.headers["content-security-policy"] == CSP
            assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
    inline = ("return [document.querySelectorAll('script:not([src]), [style]').length,"
              " Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes)"
              "  .some(a => a.name.startsWith('on'))).length]")
    for path in (*SCREENS, "/admin/users/2401"):
        panel.open(path)
        assert panel.js(inline) == [0, 0], path
    refused = [e for e in panel.driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert refused == []


def test_every_screen_fits_a_phone(live, panel: Panel):
    """420 px wide: nothing wider than the screen, the menu folded behind its button, rows as cards."""
    live.bot.enter(2501)
    panel.sign_in()
    panel.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                 {"width": 420, "height": 800, "deviceScaleFactor": 2, "mobile": True})
    for path in (*SCREENS, "/admin/users/2501"):
        panel.open(path)
        wait_until(lambda: panel.js("return document.readyState") == "complete", 30, 0.1, what="the page")
        assert panel.js("return document.documentElement.scrollWidth") <= 420, path
        assert panel.visible(".menu-button") and not panel.visible("nav a"), path
    panel.open("/admin/users")
    panel.wait_row("#users", "U2501")
    assert panel.js("return getComputedStyle(document.querySelector('#users tbody tr')).display") == "grid"
    panel.shoot("users-phone", width=420)
    panel.find(".menu-button").click()
    assert panel.visible("nav a[href='/admin/audit']")


def test_tasks_are_created_disabled_rewarded_moved_and_deleted_from_the_panel(live, panel: Panel):
    bot = live.bot
    panel.sign_in()
    panel.open("/admin/tasks")
    panel.wait_row("#tasks", "x_follow")
    panel.fill("#task-form", id="visit_blog", title="Read our blog", reward="7", target="https://example.org/blog")
    panel.find("#task-form select[name=kind]").send_keys("link")
    panel.submit("#task-form")
    assert "Read our blog" in panel.confirm()
    panel.wait_row("#tasks", "visit_blog")

    def ids() -> list[str]:
        return panel.js("return Array.from(document.querySelectorAll('#tasks tbody tr'), r => r.dataset.id)")

    def cell(css: str) -> str:
        return panel.js("var r = document.querySelector('#tasks tr[data-id=visit_blog]');"
                        "return r ? r.querySelector(arguments[0]).textContent : ''", css)

    def press(label: str, **fields: str) -> None:
        row = panel.find("#tasks tr[data-id=visit_blog]")
        next(b for b in row.find_elements("css selector", "button") if label in (b.text, b.get_attribute("title"))).click()
        panel.confirm(**fields)
        panel.flash("Done.")

    press("Reward", reward="9")
    wait_until(lambda: cell(".reward") == "9", 30, 0.1, what="the new reward")
    press("Disable")
    wait_until(lambda: cell(".badge") == "off", 30, 0.1, what="the task off")
    with bot.database() as db:
        assert db.execute("SELECT reward, active FROM tasks WHERE id = 'visit_blog'").fetchone() == (9, 0)
    before = ids()
    press("Move up")
    wait_until(lambda: ids().index("visit_blog") == before.index("visit_blog") - 1, 30, 0.1, what="the task one place up")
    assert sorted(ids()) == sorted(before)
    panel.shoot("tasks")
    press("Delete")
    wait_until(lambda: "visit_blog" not in ids(), 30, 0.1, what="the task gone")
    panel.open("/admin/audit")
    for action in ("task.create", "task.update", "task.reorder", "task.delete"):
        panel.wait_row("#audit", action)


def wallet(uid: int) -> str:
    return to_checksum_address(f"0x{uid:040x}".replace("0x0", "0x5", 1))


def request_withdrawal(bot, uid: int) -> str:
    """`uid` gets 150 points from the admin, sets a wallet and withdraws; the withdrawal's id."""
    bot.enter(uid)
    bot.ask(uid, "wallet", "Wallet saved", args=wallet(uid))
    bot.ask(ADMIN, "award", "Awarded 150", args=f"{uid} 150")
    offer = bot.ask(uid, "withdraw", "Withdraw 150 points")
    rows = offer["message"]["reply_markup"]["inline_keyboard"]
    confirm = next(b["callback_data"] for row in rows for b in row if b["callback_data"].startswith("wd:ok:"))
    done = bot.tap(uid, confirm.rpartition("~")[0], "Withdrawal #")
    return number_after(r"#(\w+)", text_of(done))


def test_withdrawals_are_paid_with_a_hash_or_failed_with_a_refund(live, panel: Panel):
    bot = live.bot
    paid, failed = request_withdrawal(bot, 2601), request_withdrawal(bot, 2602)
    panel.sign_in()
    panel.open("/admin/withdrawals")
    assert wallet(2601) in panel.wait_row("#queue", paid)
    panel.wait_row("#queue", failed)
    panel.shoot("withdrawals")
    panel.find(f"#queue tr[data-id='{paid}'] button[data-action=paid]").click()
    panel.confirm(tx_hash="0xabc123")
    bot.wait(2601, "was paid")
    panel.find(f"#queue tr[data-id='{failed}'] button[data-action=fail]").click()
    panel.confirm(note="wallet on the wrong chain")
    bot.wait(2602, "failed and was refunded. wallet on the wrong chain")
    assert bot.balance(2601) == 0 and bot.balance(2602) == 150
    panel.find("#status").send_keys("paid")
    assert "0xabc123" in panel.wait_row("#queue", paid)               # the paid filter lists it, with its hash


def test_tickets_are_answered_through_the_bot_and_closed(live, panel: Panel):
    bot = live.bot
    bot.enter(2701)
    ticket = open_ticket(bot, 2701, "Where is my referral reward?")
    panel.sign_in()
    panel.open("/admin/tickets")
    assert "Where is my referral reward?" in panel.wait_row("#queue", ticket)
    panel.shoot("tickets")
    panel.find(f"#queue tr[data-id='{ticket}'] button[data-action=reply]").click()
    panel.confirm(text="It is paid once your friend verifies.")
    bot.wait(2701, "It is paid once your friend verifies.")
    wait_until(lambda: not panel.all(f"#queue tr[data-id='{ticket}']"), 30, 0.1, what="the answered ticket gone")
    panel.find("#status").send_keys("answered")
    assert "It is paid once" in panel.wait_row("#queue", ticket)
    panel.find(f"#queue tr[data-id='{ticket}'] button[data-action=close]").click()
    panel.confirm()
    wait_until(lambda: not panel.all(f"#queue tr[data-id='{ticket}']"), 30, 0.1, what="the closed ticket gone")
    with bot.database() as db:
        assert db.execute("SELECT status FROM tickets WHERE id = ?", (ticket,)).fetchone() == ("closed",)


def test_a_ban_shows_on_the_security_screen_and_a_setting_changes_what_the_bot_pays(live, panel: Panel):
    bot = live.bot
    bot.enter(2801)
    bot.enter(2802)
    panel.sign_in()
    panel.open("/admin/users/2801")
    wait_until(lambda: panel.find("[data-field=id]").text == "2801", 30, 0.1, what="the profile")
    panel.fill("#ban-form", reason="multi-account")
    panel.find("#ban-form select[name=duration_s]").send_keys("1 day")
    panel.submit("#ban-form")
    assert "multi-account" in panel.confirm()
    bot.wait(2801, "You are banned. Reason: multi-account")
    wait_until(lambda: "multi-account" in panel.find("[data-field=banned]").text, 30, 0.1, what="the ban on the profile")
    after = bot.last_index(2801)
    bot.say(2801, "hello?")
    bot.wait(2801, "You are banned", after)
    panel.open("/admin/security")
    assert "multi-account" in panel.wait_row("#security-banned", "2801")
    panel.wait_row("#security-refusals", "banned")
    panel.shoot("security")

    panel.open("/admin/settings")
    wait_until(lambda: panel.all(".setting[data-name=daily_bonus] input"), 30, 0.1, what="the settings")
    panel.fill(".setting[data-name=daily_bonus]", daily_bonus="15")
    assert panel.find("#settings-changed").text == "1 changed"
    panel.shoot("settings")
    panel.submit("#settings-form")
    assert "daily_bonus" in panel.confirm()
    panel.flash("Done.")
    bot.tap(2802, "task:d:daily", "Daily check-in: +15 points")      # the task row is read at every tap
    assert bot.balance(2802) == 15
    panel.open("/admin/audit")
    panel.wait_row("#audit", "setting.daily_bonus")
    panel.wait_row("#audit", "user.ban")


def test_lists_page_with_load_more_and_names_are_shown_as_text(live, panel: Panel):
    bot = live.bot
    for uid in range(2901, 2906):
        bot.enter(uid)
    hostile = '<img src=x onerror="document.title=1">Eve'
    after = bot.last_index(2906)
    bot.command(2906, "start", first_name=hostile)
    bot.wait(2906, "Verified", after)
    panel.sign_in()
    panel.open("/admin/users?limit=3")
    wait_until(lambda: len(panel.rows("#users")) == 3, 30, 0.1, what="the first page")
    with bot.database() as db:
        everyone = [str(uid) for (uid,) in db.execute("SELECT id FROM users ORDER BY id DESC")]
    while panel.visible(".more"):                                        # 3 more rows each time, to the end
        wanted = min(len(panel.rows("#users")) + 3, len(everyone))
        panel.find(".more").click()
        wait_until(lambda n=wanted: len(panel.rows("#users")) == n, 30, 0.1, what="the next page")
    ids = panel.js("return Array.from(document.querySelectorAll('#users tbody tr td:first-child'), td => td.textContent)")
    assert ids == everyone                                               # each once, newest first, none missing
    assert any(hostile in row for row in panel.rows("#users"))          # the name, as text
    assert panel.all("#users img") == [] and panel.driver.title != "1"


def test_a_cancelled_confirmation_sends_nothing(live, panel: Panel):
    bot = live.bot
    bot.enter(3001)
    panel.sign_in()
    panel.open("/admin/users/3001")
    wait_until(lambda: panel.find("[data-field=id]").text == "3001", 30, 0.1, what="the profile")
    for form, values in (("#points-form", {"amount": "500", "reason": "oops"}), ("#ban-form", {"reason": "oops"})):
        panel.fill(form, **values)
        panel.submit(form)
        wait_until(lambda: panel.js("return document.getElementById('ask').open"), 30, 0.1, what="the confirmation")
        panel.find("#ask-cancel").click()
        assert not panel.js("return document.getElementById('ask').open")
    panel.fill("#message-form", text="Welcome aboard")                 # then one confirmed change
    panel.submit("#message-form")
    panel.confirm()
    panel.flash("Done.")
    bot.wait(3001, "Welcome aboard")
    panel.open("/admin/audit")
    panel.wait_row("#audit", "user:3001")
    mine = [r for r in panel.rows("#audit") if "user:3001" in r]
    assert len(mine) == 1 and "user.message" in mine[0]
    assert bot.balance(3001) == 0
    with bot.database() as db:
        assert db.execute("SELECT banned_until FROM users WHERE id = 3001").fetchone()[0] in (None, 0)


def test_log_out_ends_the_session(live, panel: Panel):
    panel.sign_in()
    cookies = {c["name"]: c["value"] for c in panel.driver.get_cookies()}
    panel.find("#logout").click()
    wait_until(lambda: panel.driver.current_url == live.base + "/admin/login", 30, 0.1, what="the login page")
    assert "/login" in panel.find("body").text
    panel.driver.get(live.base + "/admin/users")
    assert panel.driver.current_url == live.base + "/admin/login"
    with httpx.Client(cookies=cookies, timeout=15) as http:               # the old cookie opens nothing either
        assert http.get(live.base + "/admin/api/me").status_code == 401


def test_the_panel_speaks_russian(live, panel: Panel):
    panel.sign_in()
    panel.open("/admin/users?lang=ru")
    assert "Пользователи" in panel.find("nav").get_attribute("textContent") and panel.find("h1").text == "Пользователи"
    panel.wait_row("#users", "")
    assert panel.find("#users tbody td").get_attribute("data-label") == "Номер"  # the script's texts too


def test_a_broadcast_is_paused_resumed_and_another_cancelled_from_the_panel(live, panel: Panel):
    bot = live.bot
    recipients = list(range(3101, 3131))
    for uid in recipients:
        bot.enter(uid)
    panel.sign_in()
    panel.open("/admin/broadcasts")

    def card() -> tuple[int, str]:
        return panel.js("return [document.getElementById('bc-progress').value,"
                        " document.getElementById('broadcast').dataset.status];")

    def draft(text: str, ids: list[int]) -> None:
        panel.fill("#compose", text=text, ids=", ".join(map(str, ids)))
        panel.submit("#compose")
        panel.confirm()
        wait_until(lambda: card()[1] == "draft", 30, 0.1, what="the draft")

    def control(action: str, status: str) -> None:
        panel.find(f"[data-control={action}]").click()
        panel.confirm()
        wait_until(lambda: card()[1] == status, 30, 0.1, what=f"the broadcast {status}")

    text = "Weekend quiz at 18:00."
    draft(text, recipients)
    control("start", "running")
    wait_until(lambda: card()[0] >= 3, 60, 0.1, what="the first sends")
    control("pause", "paused")
    reads: list = []

    def unchanged():                                                  # two reads 1.5 s apart agree
        reads.append(card())
        return reads[-1] if len(reads) > 1 and reads[-1] == reads[-2] else None
    settled = wait_until(unchanged, 30, 1.5, what="the paused counters settled")
    assert settled[0] < len(recipients)                               # the pause held back the rest
    assert not panel.visible("[data-control=pause]") and panel.visible("[data-control=resume]")
    control("resume", "running")
    wait_until(lambda: card() == [len(recipients), "done"], 90, 0.2, what="the broadcast done")
    assert [bot.count(uid, text) for uid in recipients] == [1] * len(recipients)

    never = "This one is cancelled before it starts."
    draft(never, recipients[:3])
    control("cancel", "cancelled")
    assert not any(panel.visible(f"[data-control={a}]") for a in ("start", "pause", "resume", "cancel"))
    assert [bot.count(uid, never) for uid in recipients[:3]] == [0, 0, 0]
    panel.open("/admin/audit?limit=12")
    for action in ("broadcast.create", "broadcast.start", "broadcast.pause", "broadcast.resume", "broadcast.cancel"):
        panel.wait_row("#audit", action)
    panel.shoot("audit")                                              # late in the module: a full page of changes


def test_the_other_actions_reject_unban_clear_device_reset_revoke_and_the_audit_filter(live, panel: Panel):
    bot = live.bot
    bot.enter(3201)
    submission = submit_proof(bot, 3201, "@nobody_3201")
    bot.ask(ADMIN, "award", "Awarded 40", args="3201 40")
    panel.sign_in()
    panel.open("/admin/submissions")
    panel.wait_row("#queue", submission)
    panel.find(f"#queue tr[data-id='{submission}'] button[data-action=reject]").click()
    panel.confirm(note="no such follower")
    bot.wait(3201, "was rejected. Note: no such follower")

    panel.open("/admin/users/3201")
    wait_until(lambda: panel.find("[data-field=points]").text == "40", 30, 0.1, what="the profile")
    panel.fill("#ban-form", reason="testing")
    panel.submit("#ban-form")
    panel.confirm()
    wait_until(lambda: "testing" in panel.find("[data-field=banned]").text, 30, 0.1, what="the ban")
    for button, text in (("#unban", "Unban user 3201?"), ("#clear-device", "Forget the device"), ("#reset", "Reset ALL")):
        panel.find(button).click()
        assert text in panel.confirm()
        panel.flash("Done.")
    bot.wait(3201, "Your ban was lifted")
    wait_until(lambda: panel.find("[data-field=points]").text == "0" and panel.find("[data-field=banned]").text == "no",
               30, 0.1, what="the reset, unbanned profile")
    assert bot.balance(3201) == 0

    panel.open("/admin/roles")
    panel.fill("#grant", telegram_id="3202")
    panel.submit("#grant")
    panel.confirm()
    panel.wait_row("#roles", "3202")
    next(r for r in panel.all("#roles tbody tr") if "3202" in r.text).find_element("css selector", "button").click()
    assert "3202" in panel.confirm()
    wait_until(lambda: not any("3202" in r for r in panel.rows("#roles")), 30, 0.1, what="the grant revoked")

    panel.open("/admin/audit")
    panel.fill("#audit-filter", action="user.reset")
    panel.submit("#audit-filter")
    wait_until(lambda: panel.rows("#audit") and all("user.reset" in r for r in panel.rows("#audit")), 30, 0.1,
               what="only user.reset rows")
    assert any("user:3201" in r for r in panel.rows("#audit"))
    assert "action=user.reset" in panel.find("#export-audit").get_attribute("href")
