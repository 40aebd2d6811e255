"""Flood limits (429 retry_after per chat, per group, global) and scripted faults."""
from __future__ import annotations

import time

import httpx
import pytest

from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient


@pytest.fixture
def flood_server():
    """A private server: flood limits are server-wide, so they must not leak into other tests."""
    with running_emulator() as running, ControlClient(running.url) as control:
        yield running, control


def send(api: httpx.Client, chat_id: int, text: str = "x") -> httpx.Response:
    return api.post("sendMessage", json={"chat_id": chat_id, "text": text})


def test_flood_limits_are_off_by_default(api, user):
    assert all(send(api, user).status_code == 200 for _ in range(40))


def test_per_chat_limit_allows_a_burst_then_429(flood_server, token):
    server, control = flood_server
    control.set_flood_limits(enabled=True, chat_rate=0.5, chat_burst=3)
    control.inject_message(token, 10, "hi")
    with httpx.Client(base_url=f"{server.url}/bot{token}/") as api:
        codes = [send(api, 10).status_code for _ in range(3)]
        limited = send(api, 10)
        assert codes == [200, 200, 200]
        assert limited.status_code == 429
        body = limited.json()
        retry_after = body["parameters"]["retry_after"]
        assert body == {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry_after}",
                        "parameters": {"retry_after": retry_after}}
        assert 1 <= retry_after <= 2
        control.inject_message(token, 11, "hi")
        assert send(api, 11).status_code == 200          # another chat is not affected


def test_group_limit_per_minute(flood_server, token):
    server, control = flood_server
    control.set_flood_limits(enabled=True, chat_rate=1000, chat_burst=1000, group_per_minute=5)
    control.inject_message(token, 10, "hi", chat_id=-500, chat_type="group")
    with httpx.Client(base_url=f"{server.url}/bot{token}/") as api:
        assert [send(api, -500).status_code for _ in range(6)] == [200] * 5 + [429]
        assert send(api, -500).json()["parameters"]["retry_after"] >= 5


def test_global_limit_and_switching_off(flood_server, token):
    server, control = flood_server
    control.set_flood_limits(enabled=True, global_rate=2, global_burst=4, reply_window_s=0)   # every send is bulk
    control.inject_batch(token, [{"user_id": uid, "text": "hi"} for uid in range(20, 30)])
    with httpx.Client(base_url=f"{server.url}/bot{token}/") as api:
        codes = [send(api, uid).status_code for uid in range(20, 26)]
        assert codes[:4] == [200] * 4 and 429 in codes[4:]
        control.set_flood_limits(enabled=False)
        assert send(api, 29).status_code == 200


def test_fault_with_retry_after_then_recovery(api, control, token, user):
    control.add_fault("sendMessage", error_code=429, retry_after=7, times=2, token=token)
    for _ in range(2):
        response = send(api, user)
        assert response.status_code == 429
        assert response.json() == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                                   "parameters": {"retry_after": 7}}
    assert send(api, user).status_code == 200


def test_fault_matches_parameters_and_method_case_insensitively(api, control, token, user):
    control.inject_message(token, 5002, "hi")
    control.add_fault("SENDMESSAGE", error_code=502, match={"chat_id": user}, times=None, token=token)
    assert send(api, 5002).status_code == 200
    failed = send(api, user)
    assert (failed.status_code, failed.json()["description"]) == (502, "Bad Gateway")
    assert "parameters" not in failed.json()
    assert send(api, user).status_code == 502                    # times=None: until cleared
    assert control.clear_faults(token) == 1
    assert send(api, user).status_code == 200


def test_fault_custom_description_and_every_method(api, control, token):
    control.add_fault("*", error_code=500, description="Internal Server Error: restart", token=token)
    response = api.get("getMe")
    assert (response.status_code, response.json()["description"]) == (500, "Internal Server Error: restart")
    assert api.get("getMe").status_code == 200


def test_fault_delay_simulates_a_hung_server(emulator, control, token):
    control.add_fault("getMe", delay=5.0, token=token)
    with httpx.Client(base_url=f"{emulator.url}/bot{token}/", timeout=0.5) as api:
        with pytest.raises(httpx.ReadTimeout):
            api.get("getMe")
        started = time.monotonic()
        assert api.get("getMe").status_code == 200               # used up: answered at once
        assert time.monotonic() - started < 0.5


def test_fault_on_get_updates(api, control, token):
    control.add_fault("getUpdates", error_code=409, description="Conflict: terminated by other getUpdates request; "
                      "make sure that only one bot instance is running", token=token)
    assert api.post("getUpdates").status_code == 409
    assert api.post("getUpdates").status_code == 200


def test_bad_fault_is_refused(control):
    from botrunner.emulator.client import ControlError
    with pytest.raises(ControlError) as error:
        control.add_fault("getMe")
    assert error.value.code == 400


def test_answers_to_users_who_just_wrote_skip_the_bulk_limit(flood_server, token):
    server, control = flood_server
    control.set_flood_limits(enabled=True, global_rate=2, global_burst=4, reply_window_s=3600)
    control.inject_batch(token, [{"user_id": uid, "text": "hi"} for uid in range(40, 60)])
    with httpx.Client(base_url=f"{server.url}/bot{token}/") as api:
        assert [send(api, uid).status_code for uid in range(40, 60)] == [200] * 20     # 20 answers at a bulk 2/s
        assert [send(api, 40).status_code for _ in range(4)][-1] == 429               # the chat's own limit holds
        control.set_flood_limits(reply_window_s=0)                                    # now they are bulk sends
        assert 429 in [send(api, uid).status_code for uid in range(41, 60)]
