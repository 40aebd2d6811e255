"""End to end: real supervisor and workers running handlers.app against the local Bot API server."""
from __future__ import annotations

import pytest
import redis

from botrunner.bot.states import RedisStates
from botrunner.config.settings import _with_db
from tests.lane_records import is_done
from tests.runner.conftest import KEYS, TOKEN, Cluster, wait_until

pytestmark = pytest.mark.slow
ADMIN = 900


@pytest.fixture
def stack(tmp_path, redis_url):
    from botrunner.emulator import running_emulator
    from botrunner.emulator.client import ControlClient
    with running_emulator(port=0) as emu, ControlClient(emu.url) as control:
        cluster = Cluster(tmp_path, redis_url, emu.url)
        try:
            cluster.start(workers=2, BOT_HANDLERS="handlers.app:router", ADMIN_USER_IDS=str(ADMIN),
                          ENABLE_REFERRAL_BATCHING="true", REFERRAL_BATCH_INTERVAL_MS="50")
            sessions = RedisStates(redis.Redis.from_url(_with_db(redis_url, 1)), prefix=KEYS.prefix)
            yield control, sessions, cluster
        finally:
            cluster.stop_all()
            cluster.client.close()


def wait_text(control, chat_id: int, needle: str, after: int = -1, timeout: float = 30.0) -> dict:
    """The first entry after index `after` whose text or caption contains `needle`."""
    def find():
        for entry in control.sent(TOKEN, chat_id, after):
            message = entry.get("message") or {}
            if needle in (entry.get("text") or message.get("caption") or ""):
                return entry
        return None
    return wait_until(find, timeout, 0.1, what=f"{needle!r} in chat {chat_id}")


def join(control, sessions, user_id: int, payload: str = "") -> None:
    """/start, wait for the captcha photo, answer it (the test reads the code from the conversation,
    stored when the update completes, just after the photo went out)."""
    control.inject_command(TOKEN, user_id, "start", payload, first_name=f"U{user_id}")
    wait_until(lambda: any(e["method"] == "sendPhoto" for e in control.sent(TOKEN, user_id)), 30,
               what=f"captcha photo for {user_id}")
    code = wait_until(lambda: (sessions.get(user_id, user_id).data.get("captcha") or {}).get("code"), 30,
                      what=f"captcha code of {user_id}")
    control.inject_message(TOKEN, user_id, code, first_name=f"U{user_id}")
    wait_text(control, user_id, "Verified")


def test_referral_chain_captcha_and_admin_refusal(stack):
    control, sessions, cluster = stack
    join(control, sessions, 10)
    join(control, sessions, 11, "ref_10")
    wait_text(control, 10, "New referral: U11")
    join(control, sessions, 12, "ref_11")
    wait_text(control, 11, "New referral: U12")
    wait_text(control, 12, "Welcome bonus: +7")
    again = control.inject_command(TOKEN, 12, "start", "ref_10")["update_id"]   # another referrer: nothing
    # chat 12's lane is not chat 10's: wait until that update is completed (its replies sent, its writes
    # flushed) before looking at what user 10 got, or a wrong second referral could still be on its way
    wait_until(lambda: is_done(cluster.client, KEYS, again), 30, 0.1, what="the second /start completed")
    control.inject_command(TOKEN, 10, "menu")
    entry = wait_text(control, 10, "Balance: 15 points")
    assert "Referrals: 1" in entry["text"]
    assert sum("New referral" in (e.get("text") or "") for e in control.sent(TOKEN, 10)) == 1
    control.inject_command(TOKEN, 10, "award", "10 1000")              # not an admin
    wait_text(control, 10, "admins only")
    control.inject_command(TOKEN, ADMIN, "award", "12 50 welcome")
    wait_text(control, ADMIN, "Awarded 50")
    wait_text(control, 12, "You received 50 points")


def test_captcha_failure_locks_the_user_out(stack):
    control, _, _ = stack
    control.inject_command(TOKEN, 20, "start")
    wait_until(lambda: any(e["method"] == "sendPhoto" for e in control.sent(TOKEN, 20)), 30, what="captcha")
    control.inject_command(TOKEN, 20, "tasks")
    wait_text(control, 20, "solve the captcha first")
    for _ in range(3):
        control.inject_message(TOKEN, 20, "WRONG")
    wait_text(control, 20, "Too many wrong answers")


def test_forged_callback_and_hostile_text(stack):
    control, sessions, _ = stack
    join(control, sessions, 30)
    last = control.sent(TOKEN, 30)[-1]
    control.inject_callback(TOKEN, 30, last["message_id"], "wd:ok:forged~AAAAAAAA")
    wait_until(lambda: any(e["method"] == "answerCallbackQuery" and "not valid" in (e.get("text") or "")
                           for e in control.sent(TOKEN, 30)), 30, what="forged button refused")
    control.inject_message(TOKEN, 30, "\u202e\u0000" + "𝕏" * 5000)
    wait_text(control, 30, "did not understand")
    control.inject_command(TOKEN, 30, "menu")
    wait_text(control, 30, "Balance: 0", after=last["index"])


def test_transfer_double_confirm_pays_once(stack):
    control, sessions, cluster = stack
    join(control, sessions, 40)
    join(control, sessions, 41)
    control.inject_command(TOKEN, ADMIN, "award", "40 200")
    wait_text(control, ADMIN, "Awarded 200")
    control.inject_command(TOKEN, 40, "transfer", "41 60")
    entry = wait_text(control, 40, "(id 41)? Fee")
    data = next(b["callback_data"] for row in entry["message"]["reply_markup"]["inline_keyboard"] for b in row
                if b["callback_data"].startswith("tr:ok:"))
    clicks = [control.inject_callback(TOKEN, 40, entry["message_id"], data)["update_id"] for _ in range(2)]
    wait_text(control, 41, "You received 59 points")
    wait_until(lambda: all(is_done(cluster.client, KEYS, c) for c in clicks), 30, 0.1,   # the double click
               what="both clicks completed")
    assert sum("You received" in (e.get("text") or "") for e in control.sent(TOKEN, 41)) == 1
    control.inject_command(TOKEN, 40, "points")
    wait_text(control, 40, "Balance: 140")
