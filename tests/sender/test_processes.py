"""Real processes: supervisors and workers sending through the cluster-wide limiter to the local Bot API
server with flood limits on; scripted 429s, blocked users, a kill in the middle of an outbox, getMe.

No tight timings (shared 2-core machine): "frozen for N s" is checked as "not earlier than ~N s".
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from botrunner.redis_keys import Keys
from tests.runner.conftest import ROOT, TOKEN, wait_until
from tests.sender.bot_app import ALERT_CHAT

pytestmark = pytest.mark.slow
KEYS = Keys.for_token(TOKEN)
BOT = {"BOT_HANDLERS": "tests.sender.bot_app:router"}


def replies(control, chat: int, prefix: str = "") -> list[dict]:
    return [e for e in control.sent(TOKEN, chat) if e["method"] == "sendMessage" and e["text"].startswith(prefix)]


def sender_totals(cluster) -> dict:
    """`botrunner status --json` as an operator runs it: the send_* counters summed over workers."""
    out = subprocess.run([sys.executable, "-m", "botrunner", "status", "--json"], env=cluster.env(),
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["sender"]


def test_many_workers_many_chats_one_chat_with_flood_limits_on(cluster, emulator):
    _, control = emulator
    control.set_flood_limits(enabled=True, chat_rate=1, chat_burst=3, group_per_minute=20, global_rate=30,
                             global_burst=30)
    control.inject_message(TOKEN, ALERT_CHAT, "the alert chat exists")
    cluster.start(workers=4, **BOT)
    alerts, users = range(1000, 1012), range(2000, 2080)
    control.inject_batch(TOKEN, [{"kind": "command", "user_id": u, "command": "alert"} for u in alerts] +
                         [{"kind": "command", "user_id": u, "command": "start"} for u in users])
    wait_until(lambda: len(replies(control, ALERT_CHAT, "alert")) == len(alerts), 90, 0.5, what="every alert")
    wait_until(lambda: all(len(replies(control, u)) == 1 for u in [*alerts, *users]), 60, 0.5,
               what="every reply")
    times = [e["monotonic"] for e in replies(control, ALERT_CHAT, "alert")]
    assert times[-1] - times[0] >= (len(alerts) - 3) * 0.9          # one chat: about 1/s after the burst
    totals = wait_until(lambda: (t := sender_totals(cluster))["sent"] >= len(alerts) * 2 + len(users) and t,
                        15, 1.0, what="status counters")
    assert totals["rate_limited_chat"] + totals["rate_limited_group"] + totals["rate_limited_global"] <= 2
    assert totals["failed"] == 0


def test_scripted_429_freezes_that_chat_and_the_reply_comes_after_it(cluster, emulator):
    _, control = emulator
    cluster.start(workers=2, **BOT)
    control.add_fault("sendMessage", 429, retry_after=5, times=1, match={"chat_id": 42}, token=TOKEN)
    frozen = control.inject_command(TOKEN, 42, "start")
    free = control.inject_command(TOKEN, 43, "start")
    late = control.wait_for_message(TOKEN, 42, timeout=30)
    early = control.wait_for_message(TOKEN, 43, timeout=30)
    assert late and early
    assert late["monotonic"] - frozen["inject_monotonic"] >= 4.7          # chat 42 waited out retry_after
    assert early["monotonic"] < late["monotonic"]                          # chat 43 did not wait for it
    assert free["inject_monotonic"] > frozen["inject_monotonic"]
    assert len(replies(control, 42)) == 1
    wait_until(lambda: sender_totals(cluster)["rate_limited_chat"] >= 1, 10, 0.5, what="the 429 counted")


def test_global_429_pauses_every_worker(cluster, emulator):
    _, control = emulator
    cluster.start(workers=2, **BOT)
    control.add_fault("sendMessage", 429, retry_after=4, times=3, token=TOKEN)     # any chat: a bot-wide flood
    for user in (51, 52, 53):
        control.inject_command(TOKEN, user, "start")
    until_ms = float(wait_until(lambda: cluster.client.get(KEYS.send_freeze_global), 30, 0.05,
                                what="the global freeze"))
    later = range(60, 70)                     # lanes of both workers
    for user in later:
        control.inject_command(TOKEN, user, "start")
    for user in (51, 52, 53, *later):
        assert control.wait_for_message(TOKEN, user, timeout=40), f"no reply to {user}"
    sent_at = [replies(control, u)[0]["time"] for u in (51, 52, 53, *later)]
    assert min(sent_at) >= until_ms / 1000 - 0.5      # nobody sent while the bot was frozen
    assert all(len(replies(control, u)) == 1 for u in (51, 52, 53, *later))


def test_blocked_user_flagged_once_skipped_and_cleared_when_they_write(cluster, emulator):
    _, control = emulator
    cluster.start(workers=2, **BOT)
    control.inject_message(TOKEN, 42, "hello")
    assert control.wait_for_message(TOKEN, 42, timeout=20)
    control.set_blocked(TOKEN, 42)
    control.inject_command(TOKEN, 42, "start")
    wait_until(lambda: cluster.client.sismember(KEYS.send_blocked, "42"), 20, 0.1, what="user 42 flagged")
    control.add_fault("sendMessage", 403, "Forbidden: bot was blocked by the user", times=None,
                      match={"chat_id": 42}, token=TOKEN)
    for n in range(3):                       # other users' updates send to 42: skipped, never tried
        control.inject_command(TOKEN, 7000 + n, "poke", args="42")
    wait_until(lambda: sender_totals(cluster)["skipped_blocked"] >= 3, 30, 0.5, what="3 skipped sends")
    assert cluster.client.lrange("blocked:events", 0, -1) == [b"42:1"]      # the bot's hook, called once
    assert [f["hits"] for f in control.faults()] == [0]               # no retry storm after the first 403
    assert sender_totals(cluster)["blocked"] == 1
    control.clear_faults()
    control.set_blocked(TOKEN, 42, False)
    control.inject_command(TOKEN, 42, "start")                        # writing again clears the flag
    wait_until(lambda: len(replies(control, 42, "start")) == 1, 20, 0.2, what="the reply after unblocking")
    assert not cluster.client.sismember(KEYS.send_blocked, "42")
    assert cluster.client.lrange("blocked:events", 0, -1) == [b"42:1", b"42:0"]


def test_kill_mid_send_then_redelivery_does_not_resend_journaled_messages(cluster, emulator):
    _, control = emulator
    proc = cluster.start(workers=1, **BOT)
    control.inject_message(TOKEN, 77, "hello")
    assert control.wait_for_message(TOKEN, 77, timeout=20)
    control.add_fault("sendMessage", delay=6, times=1, match={"chat_id": 77, "text": "m2"}, token=TOKEN)
    control.inject_command(TOKEN, 77, "multi")
    wait_until(lambda: replies(control, 77, "m1"), 20, 0.05, what="m1 sent")
    time.sleep(0.5)                                                   # m2 is in flight, held by the server
    for pid in cluster.worker_pids(proc.pid):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: replies(control, 77, "m3"), 60, 0.2, what="the redelivered update's last reply")
    time.sleep(7)                                                     # the held m2 has had its chance too
    assert len(replies(control, 77, "m1")) == 1                       # journaled: not sent again
    assert len(replies(control, 77, "m3")) == 1
    m2 = len(replies(control, 77, "m2"))
    print(f"m2 sent {m2} time(s)")
    assert 1 <= m2 <= 2                                               # the documented window: in flight at the kill


def test_commands_for_another_bot_are_not_ours(cluster, emulator):
    _, control = emulator
    cluster.start(workers=1, **BOT)
    username = control.state(TOKEN).get("username") or f"emulated_{TOKEN.split(':')[0]}_bot"
    control.inject_message(TOKEN, 88, f"/start@{username}")
    control.inject_message(TOKEN, 88, "/start@some_other_bot")
    wait_until(lambda: len(replies(control, 88)) == 2, 20, 0.1, what="two replies")
    assert [e["text"].split()[0] for e in replies(control, 88)] == ["start", "other"]


# what UTF-8 carries but ASCII-escaped JSON used to spell out: every plane, joiners, combining marks,
# direction marks, separators JSON readers trip on, and a 4000-unit text of surrogate pairs
ECHOED = ["😀 🇺🇦 👩‍👩‍👧 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🀄", "Привет, 你好, مرحبا, שלום \u200f", "e\u0301 \u200b \u2028 \u2029 \ufeff end",
          "tab\t quote\" backslash\\ </script> \u007f", "😀" * 2000]


def test_non_bmp_and_odd_text_reaches_the_user_unchanged_through_workers(cluster, emulator):
    """The real pipeline (supervisor, poller, lanes, workers, sender) on the local Bot API server:
    the reply to /echo is the user's text exactly, and so is its button's label."""
    _, control = emulator
    cluster.start(workers=2, **BOT)
    for n, said in enumerate(ECHOED):
        control.inject_command(TOKEN, 5100 + n, "echo", args=said, first_name=said[:16])
    wait_until(lambda: all(replies(control, 5100 + n) for n in range(len(ECHOED))), 60, 0.5, what="every echo")
    for n, said in enumerate(ECHOED):
        reply = replies(control, 5100 + n)[-1]
        assert reply["text"] == said
        assert reply["message"]["reply_markup"]["inline_keyboard"][0][0]["text"] == said[:8]
