"""getUpdates: held long polls, 409 for a second poll, offsets, clamping, allowed_updates, statistics."""
from __future__ import annotations

import asyncio
import time

import httpx

TERMINATED = ("Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
              "running")


def updates(api, **params) -> list[dict]:
    response = api.post("getUpdates", json=params)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_update_ids_increase_and_offset_confirms(api, control, token):
    for i in range(3):
        control.inject_message(token, 100, f"m{i}")
    batch = updates(api)
    assert [u["update_id"] for u in batch] == [1, 2, 3]
    assert [u["message"]["text"] for u in batch] == ["m0", "m1", "m2"]
    assert [u["update_id"] for u in updates(api)] == [1, 2, 3]        # not confirmed yet: same batch
    assert [u["update_id"] for u in updates(api, offset=3)] == [3]    # confirms 1 and 2
    assert updates(api, offset=4) == []
    assert updates(api, offset=1) == []                               # confirmed updates are gone


def test_negative_offset_keeps_only_the_last(api, control, token):
    for i in range(5):
        control.inject_message(token, 100, f"m{i}")
    assert [u["message"]["text"] for u in updates(api, offset=-2)] == ["m3", "m4"]
    assert len(updates(api)) == 2                                     # the older ones were forgotten


def test_limit_is_clamped(api, control, token):
    control.inject_batch(token, [{"user_id": 100 + i, "text": "x"} for i in range(105)])
    assert len(updates(api, limit=0)) == 1
    assert len(updates(api, limit=3)) == 3
    assert len(updates(api, limit=1000)) == 100
    assert len(updates(api)) == 100


def test_timeout_is_clamped_and_empty_poll_returns_at_timeout(api):
    started = time.monotonic()
    assert updates(api, timeout=-5) == []
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    assert updates(api, timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 5.0


async def _held_poll_released_by_update(url: str, control, token: str) -> tuple[list, float]:
    async with httpx.AsyncClient(base_url=f"{url}/bot{token}/", timeout=30) as client:
        poll = asyncio.create_task(client.post("getUpdates", json={"timeout": 20}))
        await asyncio.sleep(0.5)
        assert not poll.done()                                        # held: nothing to return yet
        await asyncio.to_thread(control.inject_message, token, 100, "wake up")
        released = time.monotonic()
        response = await poll
        return response.json()["result"], time.monotonic() - released


def test_held_poll_is_answered_when_an_update_arrives(emulator, control, token):
    result, delay = asyncio.run(_held_poll_released_by_update(emulator.url, control, token))
    assert [u["message"]["text"] for u in result] == ["wake up"]
    assert delay < 2.0                                                # far below the 20 s poll timeout


async def _second_poll(url: str, token: str, control) -> tuple[httpx.Response, httpx.Response]:
    async with httpx.AsyncClient(base_url=f"{url}/bot{token}/", timeout=30) as client:
        first = asyncio.create_task(client.post("getUpdates", json={"timeout": 20}))
        await asyncio.sleep(0.5)
        second = asyncio.create_task(client.post("getUpdates", json={"timeout": 20}))
        first_response = await asyncio.wait_for(first, 5)
        await asyncio.to_thread(control.inject_message, token, 100, "for the second")
        return first_response, await asyncio.wait_for(second, 5)


def test_second_poll_terminates_the_held_one_with_409(emulator, control, token):
    first, second = asyncio.run(_second_poll(emulator.url, token, control))
    assert first.status_code == 409
    assert first.json() == {"ok": False, "error_code": 409, "description": TERMINATED}
    assert second.json()["result"][0]["message"]["text"] == "for the second"
    stats = control.poll_stats(token)
    assert stats["conflicts"] == 1
    assert stats["max_concurrent"] == 2
    assert [c["outcome"] for c in stats["calls"]] == ["conflict", "updates"]


async def _concurrent_with_pending(url: str, token: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=f"{url}/bot{token}/", timeout=30) as client:
        return await asyncio.gather(*(client.post("getUpdates", json={"timeout": 10}) for _ in range(3)))


def test_no_409_when_updates_are_pending(emulator, control, token):
    control.inject_message(token, 100, "pending")
    responses = asyncio.run(_concurrent_with_pending(emulator.url, token))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all(r.json()["result"][0]["message"]["text"] == "pending" for r in responses)


def test_poll_stats_record_every_call(api, control, token):
    control.inject_message(token, 100, "x")
    updates(api, offset=0, timeout=0)
    updates(api, offset=2, timeout=0)
    stats = control.poll_stats(token)
    assert stats["total_calls"] == 2 and stats["max_concurrent"] == 1 and stats["in_flight"] == 0
    first, second = stats["calls"]
    assert (first["offset"], first["result_count"], first["outcome"]) == (0, 1, "updates")
    assert (second["offset"], second["result_count"], second["outcome"]) == (2, 0, "empty")
    assert first["start"] <= first["end"] <= second["start"]


def test_allowed_updates_persist_and_filter(api, control, token):
    control.inject_message(token, 100, "/start")
    message = control.inject_message(token, 100, "hi")
    updates(api, allowed_updates=["callback_query"], offset=message["update_id"] + 1)
    assert control.inject_message(token, 100, "filtered")["filtered"] is True
    sent = api.post("sendMessage", json={"chat_id": 100, "text": "kb", "reply_markup": {
        "inline_keyboard": [[{"text": "b", "callback_data": "d"}]]}}).json()["result"]
    control.inject_callback(token, 100, sent["message_id"], "d")
    assert [next(k for k in u if k != "update_id") for u in updates(api)] == ["callback_query"]
    updates(api, allowed_updates=[])           # empty list: back to the default set
    assert control.inject_message(token, 100, "back")["filtered"] is False
    assert control.inject_chat_member(token, -100777, 100, "member")["filtered"] is True   # opt-in type


def test_getupdates_is_409_while_a_webhook_is_set(api):
    assert api.post("setWebhook", json={"url": "http://127.0.0.1:9/hook"}).json()["ok"]
    response = api.post("getUpdates")
    assert response.status_code == 409
    assert response.json()["description"] == ("Conflict: can't use getUpdates method while webhook is active; use "
                                              "deleteWebhook to delete the webhook first")
    api.post("deleteWebhook")
    assert api.post("getUpdates").status_code == 200


def test_jump_update_id(api, control, token):
    control.inject_message(token, 100, "a")
    assert control.jump_update_id(token, 5_000_000) == 5_000_000
    control.inject_message(token, 100, "b")
    assert [u["update_id"] for u in updates(api)] == [1, 5_000_000]


def test_tokens_are_isolated(emulator, control, token):
    other = token.replace("TEST", "OTHER")
    control.inject_message(token, 100, "mine")
    with httpx.Client(base_url=f"{emulator.url}/bot{other}/") as other_api:
        assert other_api.post("getUpdates").json()["result"] == []
        assert other_api.post("sendMessage", json={"chat_id": 100, "text": "x"}).json()["description"] == (
            "Bad Request: chat not found")
    with httpx.Client(base_url=f"{emulator.url}/bot{token}/") as api:
        assert len(api.post("getUpdates").json()["result"]) == 1


def test_a_poll_whose_client_went_away_no_longer_counts_as_in_flight(emulator, control, token):
    with httpx.Client(base_url=f"{emulator.url}/bot{token}/", timeout=0.5) as impatient:
        try:
            impatient.post("getUpdates", json={"timeout": 20})
        except httpx.ReadTimeout:
            pass
    deadline = time.monotonic() + 5
    while control.poll_stats(token)["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = control.poll_stats(token)
    assert stats["in_flight"] == 0
    assert stats["calls"][0]["outcome"] == "disconnected"
    with httpx.Client(base_url=f"{emulator.url}/bot{token}/") as api:
        assert api.post("getUpdates").status_code == 200           # nothing left to terminate: no 409 anywhere
    assert control.poll_stats(token)["max_concurrent"] == 1
