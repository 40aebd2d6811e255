"""The control plane: callbacks and their TTL, membership, sent log and waiting, reset, raw updates."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient, ControlError

QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def keyboard_message(api, chat_id: int) -> dict:
    markup = {"inline_keyboard": [[{"text": "Claim", "callback_data": "claim"}]]}
    return api.post("sendMessage", json={"chat_id": chat_id, "text": "menu", "reply_markup": markup}).json()["result"]


def test_callback_query_carries_the_message_and_answers_once(api, control, token, user):
    message = keyboard_message(api, user)
    injected = control.inject_callback(token, user, message["message_id"], "claim")
    update = api.post("getUpdates", json={"offset": injected["update_id"]}).json()["result"][0]
    query = update["callback_query"]
    assert (query["id"], query["data"], query["from"]["id"]) == (injected["callback_query_id"], "claim", user)
    assert query["message"]["message_id"] == message["message_id"]
    assert api.post("answerCallbackQuery", json={"callback_query_id": query["id"], "text": "Done"}).json()["result"]
    repeated = api.post("answerCallbackQuery", json={"callback_query_id": query["id"]})
    assert (repeated.status_code, repeated.json()["description"]) == (400, QUERY_INVALID)
    unknown = api.post("answerCallbackQuery", json={"callback_query_id": "12345"})
    assert unknown.json()["description"] == QUERY_INVALID
    answer = [e for e in control.sent(token, user) if e["method"] == "answerCallbackQuery"]
    assert answer[0]["text"] == "Done"


def test_callback_answer_text_limit(api, control, token, user):
    message = keyboard_message(api, user)
    query_id = control.inject_callback(token, user, message["message_id"], "claim")["callback_query_id"]
    too_long = api.post("answerCallbackQuery", json={"callback_query_id": query_id, "text": "x" * 201})
    assert too_long.status_code == 400
    assert api.post("answerCallbackQuery", json={"callback_query_id": query_id, "text": "x" * 200}).json()["ok"]


def test_stale_callback_query_is_refused():
    token = "42:stale"
    with running_emulator(callback_ttl=0.3) as server, ControlClient(server.url) as control:
        control.inject_message(token, 9, "hi")
        with httpx.Client(base_url=f"{server.url}/bot{token}/") as api:
            message = keyboard_message(api, 9)
            query_id = control.inject_callback(token, 9, message["message_id"], "claim")["callback_query_id"]
            time.sleep(0.5)
            stale = api.post("answerCallbackQuery", json={"callback_query_id": query_id})
            assert (stale.status_code, stale.json()["description"]) == (400, QUERY_INVALID)


def test_callback_on_a_message_the_bot_never_sent_is_refused(control, token, user):
    with pytest.raises(ControlError):
        control.inject_callback(token, user, 1, "claim")        # message 1 is the user's own


@pytest.mark.parametrize("status", ["creator", "administrator", "member", "restricted", "left", "kicked"])
def test_get_chat_member_reports_the_set_status(api, control, token, status):
    control.set_member(token, -1009001, 77, status, chat_type="channel", username="airdropnews")
    member = api.post("getChatMember", json={"chat_id": "@airdropnews", "user_id": 77}).json()["result"]
    assert member["status"] == status
    assert member["user"]["id"] == 77


def test_get_chat_member_defaults(api, control, token, user):
    control.set_chat(token, -1009002, type="channel", title="Chan")
    assert api.post("getChatMember", json={"chat_id": -1009002, "user_id": 78}).json()["result"]["status"] == "left"
    assert api.post("getChatMember", json={"chat_id": user, "user_id": user}).json()["result"]["status"] == "member"
    missing = api.post("getChatMember", json={"chat_id": -1009999, "user_id": 78})
    assert missing.json()["description"] == "Bad Request: chat not found"


def test_chat_member_update_changes_membership(api, control, token):
    api.post("getUpdates", json={"allowed_updates": ["message", "chat_member"]})
    control.inject_chat_member(token, -1009003, 79, "member", old_status="left", chat_type="supergroup")
    update = api.post("getUpdates").json()["result"][0]
    change = update["chat_member"]
    assert (change["old_chat_member"]["status"], change["new_chat_member"]["status"]) == ("left", "member")
    assert api.post("getChatMember", json={"chat_id": -1009003, "user_id": 79}).json()["result"]["status"] == "member"


def test_my_chat_member_kicked_in_private_chat_blocks_the_bot(api, control, token, user):
    control.inject_chat_member(token, user, user, "kicked", update_type="my_chat_member")
    response = api.post("sendMessage", json={"chat_id": user, "text": "x"})
    assert (response.status_code, response.json()["description"]) == (403, "Forbidden: bot was blocked by the user")
    update = api.post("getUpdates", json={"offset": -1}).json()["result"][0]
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    assert update["my_chat_member"]["new_chat_member"]["user"]["is_bot"] is True


def test_sent_log_has_order_and_timestamps(api, control, token, user):
    injected = control.inject_message(token, user, "ping")
    for text in ("a", "b", "c"):
        api.post("sendMessage", json={"chat_id": user, "text": text})
    log = control.sent(token, user)
    assert [(e["index"], e["method"], e["text"]) for e in log] == [(0, "sendMessage", "a"), (1, "sendMessage", "b"),
                                                                    (2, "sendMessage", "c")]
    assert log[0]["monotonic"] <= log[1]["monotonic"] <= log[2]["monotonic"]
    assert log[0]["monotonic"] >= injected["inject_monotonic"]
    assert 0 <= log[0]["since_inject"] < 5
    assert abs(log[0]["time"] - time.time()) < 60
    assert [e["text"] for e in control.sent(token, user, after_index=1)] == ["c"]


def test_a_wait_since_an_inject_skips_what_the_chat_got_before(api, control, token, user):
    for text in ("a", "b"):
        api.post("sendMessage", json={"chat_id": user, "text": text})
    again = control.inject_message(token, user, "again")
    api.post("sendMessage", json={"chat_id": user, "text": "next"})
    assert control.wait_for_message(token, user, timeout=10)["text"] == "a"          # from the start
    assert control.wait_for_message(token, user, since=again["inject_monotonic"], timeout=10)["text"] == "next"
    threading.Timer(0.2, lambda: api.post("sendMessage", json={"chat_id": user, "text": "later"})).start()
    held = control.wait_for_message(token, user, since=time.monotonic(), timeout=10)    # held for a new one
    assert held["text"] == "later"
    with pytest.raises(ControlError, match="since must be a number"):
        control.wait_for_message(token, user, since="yesterday", timeout=1)


def test_wait_for_message_is_held_until_the_bot_sends(api, control, token, user):
    timer = threading.Timer(0.4, lambda: api.post("sendMessage", json={"chat_id": user, "text": "late"}))
    started = time.monotonic()
    timer.start()
    entry = control.wait_for_message(token, user, after_index=-1, timeout=10)
    timer.join()
    assert entry["text"] == "late"
    assert 0.3 <= time.monotonic() - started < 5
    assert control.wait_for_message(token, user, after_index=0, timeout=0.3) is None


def test_wait_for_message_filters_methods(api, control, token, user):
    api.post("sendChatAction", json={"chat_id": user, "action": "typing"})
    api.post("sendMessage", json={"chat_id": user, "text": "reply"})
    entry = control.wait_for_message(token, user, methods=["sendMessage"], timeout=2)
    assert (entry["index"], entry["text"]) == (1, "reply")


def test_raw_update_for_malformed_update_tests(api, control, token):
    control.inject_raw(token, {"message": {"weird": True}})
    control.inject_raw(token, {"update_id": 900, "something_new": {}}, keep_update_id=True)
    result = api.post("getUpdates").json()["result"]
    assert result == [{"update_id": 1, "message": {"weird": True}}, {"update_id": 900, "something_new": {}}]


def test_reset_one_token(api, control, token, user):
    control.inject_message(token, user, "pending")
    control.reset(token)
    assert api.post("getUpdates").json()["result"] == []
    assert api.post("sendMessage", json={"chat_id": user, "text": "x"}).json()["description"] == (
        "Bad Request: chat not found")


def test_reset_releases_a_held_poll(emulator, control, token):
    timer = threading.Timer(0.4, control.reset, args=(token,))
    with httpx.Client(base_url=f"{emulator.url}/bot{token}/", timeout=30) as api:
        timer.start()
        started = time.monotonic()
        assert api.post("getUpdates", json={"timeout": 20}).json() == {"ok": True, "result": []}
        assert time.monotonic() - started < 5
    # the poll may be answered before the reset's own reply: wait for it while `control` is still open
    # (closed under it by the fixture's teardown, the timer's read failed in a later test)
    timer.join(10)
    assert not timer.is_alive()


def test_state_summary_and_health(api, control, token, user):
    summary = control.state(token)
    assert summary["pending_updates"] == 1 and summary["chats"] == [user]
    assert control.health()["tokens"] >= 1


def test_control_errors_are_reported(control):
    with pytest.raises(ControlError) as error:
        control.inject_message("not-a-token", 1, "x")
    assert error.value.code == 401
    with pytest.raises(ControlError) as error:
        control.set_member("1:a", -1, 2, "emperor")
    assert error.value.code == 400


def test_premium_users_carry_is_premium_on_later_updates(api, control, token, user):
    control.inject_message(token, user, "hi", is_premium=True)
    message = keyboard_message(api, user)
    control.inject_callback(token, user, message["message_id"], "claim")
    control.inject_message(token, user, "no longer premium", is_premium=False)
    updates = api.post("getUpdates", json={}).json()["result"]
    senders = [(u.get("message") or u.get("callback_query"))["from"] for u in updates]
    assert [s.get("is_premium") for s in senders[-3:]] == [True, True, None]


def test_one_control_client_shared_by_many_threads_loses_no_call(emulator):
    """The demo and the load test share one ControlClient between their users' threads (more of them
    than httpx's default 20 keep-alive connections): every call must get its answer."""
    errors: list[BaseException] = []
    token = "790001:TEST-shared_client"
    with ControlClient(emulator.url) as control:
        def user(n: int) -> None:
            try:
                for i in range(15):
                    control.inject_message(token, 9000 + n, f"hi {i}")
                    control.state(token)
            except BaseException as exc:      # reported below, with the thread's count
                errors.append(exc)
        threads = [threading.Thread(target=user, args=(n,)) for n in range(48)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    with ControlClient(emulator.url) as probe:                 # its pool never closes a connection for room
        pool = probe.http._transport._pool
        assert pool._max_connections >= 48 and pool._max_keepalive_connections >= 48
