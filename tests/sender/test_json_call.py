"""The lean send path against the local Bot API server: the same results and the same telegram.error
(class and message) as python-telegram-bot's path for every answer the sender reacts to."""
from __future__ import annotations

import collections
import datetime
import socket

import pytest
import telegram
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut

from botrunner.sender.json_call import Unplain, encode, error_for
from tests.sender.lean_calls import TOKEN, both_paths, counting_posts, run


def test_a_plain_call_goes_the_lean_way_and_returns_the_raw_result(emulator, monkeypatch):
    emu, control = emulator
    control.inject_message(TOKEN, 5, "hi")          # the chat exists once its user wrote
    posted = counting_posts(monkeypatch)
    markup = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("Join", callback_data="join:1")]])
    result = run(emu.url, lambda c: c.call("sendMessage", {"chat_id": 5, "text": "héllo", "reply_markup": markup}))
    assert posted == [("sendMessage", "json")]
    assert isinstance(result, dict) and result["text"] == "héllo" and result["chat"]["id"] == 5
    sent = control.sent(TOKEN, 5)[-1]
    assert sent["text"] == "héllo"
    assert sent["message"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "join:1"


def test_values_orjson_refuses_but_json_carries_still_go_the_lean_way_as_json(emulator, monkeypatch):
    """A namedtuple (orjson hands it to `default`, json.dumps writes a list) or an int past 64 bits: the
    body is JSON from the standard library, not a form and not PTB's."""
    emu, control = emulator
    control.inject_message(TOKEN, 10, "hi")
    posted = counting_posts(monkeypatch)
    pair = collections.namedtuple("pair", "a b")
    result = run(emu.url, lambda c: c.call("sendMessage", {"chat_id": 10, "text": "n", "extra": pair(1, 2),
                                                           "big": 2 ** 70}))
    assert posted == [("sendMessage", "json")]
    assert result["text"] == "n"


def test_values_neither_lean_path_carries_go_through_ptb(emulator, monkeypatch):
    emu, control = emulator
    control.inject_message(TOKEN, 6, "hi")
    posted = counting_posts(monkeypatch)
    run(emu.url, lambda c: c.call("sendMessage", {"chat_id": 6, "text": "later",
                                                  "schedule": datetime.datetime(2030, 1, 1)}))
    assert posted == []
    assert [e["method"] for e in control.sent(TOKEN, 6)] == ["sendMessage"]
    with pytest.raises(Unplain):
        encode({"photo": ("a.png", b"\x89PNG")})


@pytest.mark.parametrize("code, description, retry_after, expected", [
    (429, "Too Many Requests: retry after 7", 7, RetryAfter),
    (403, "Forbidden: bot was blocked by the user", None, Forbidden),
    (400, "Bad Request: chat not found", None, BadRequest),
    (500, "Internal Server Error", None, NetworkError),
    (502, "Bad Gateway", None, NetworkError),
    (401, "Unauthorized", None, InvalidToken),
])
def test_error_answers_map_to_the_exceptions_ptb_raises(emulator, code, description, retry_after, expected):
    emu, control = emulator
    control.add_fault("sendMessage", error_code=code, description=description, retry_after=retry_after, times=2)
    lean, ptb = both_paths(emu.url, "sendMessage", {"chat_id": 7, "text": "x"})
    assert lean == ptb
    assert lean[0] is expected
    assert control.sent(TOKEN, 7) == []


def test_retry_after_keeps_its_seconds(emulator):
    emu, control = emulator
    control.add_fault("sendMessage", error_code=429, description="Too Many Requests: retry after 3", retry_after=3)

    async def scenario(client):
        with pytest.raises(RetryAfter) as caught:
            await client.call("sendMessage", {"chat_id": 8, "text": "x"})
        return caught.value
    exc = run(emu.url, scenario)
    from botrunner.sender.sender import seconds
    assert seconds(exc) == 3.0


def test_a_server_slower_than_the_timeout_is_timed_out(emulator):
    emu, control = emulator
    control.inject_message(TOKEN, 9, "hi")
    control.add_fault("sendMessage", delay=3.0)

    async def scenario(client):
        with pytest.raises(TimedOut):
            await client.call("sendMessage", {"chat_id": 9, "text": "x"}, timeout_s=0.3)
        return await client.call("sendMessage", {"chat_id": 9, "text": "after"})
    assert run(emu.url, scenario)["text"] == "after"


def test_a_refused_connection_is_a_network_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]          # bound, never listening: connections are refused

        async def scenario(client):
            with pytest.raises(NetworkError) as caught:
                await client.call("sendMessage", {"chat_id": 1, "text": "x"})
            return caught.value
        exc = run(f"http://127.0.0.1:{port}", scenario)
    assert not isinstance(exc, TimedOut) and "aiohttp." in exc.message


def test_migration_and_unparseable_bodies_map_as_ptb_maps_them():
    assert isinstance(error_for(400, b'{"ok":false,"description":"x","parameters":{"migrate_to_chat_id":-100}}',
                                "sendMessage"), ChatMigrated)
    odd = error_for(503, b"<html>busy</html>", "sendMessage")
    assert type(odd) is NetworkError and "Service Unavailable (503). Parsing the server response" in odd.message
