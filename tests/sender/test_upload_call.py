"""The lean upload path against the local Bot API server: a call with uploads is posted as one multipart
form, arrives as python-telegram-bot's would (file name, mime type, bytes, caption, markup) and fails
with the same telegram.error (class and message) for every answer the sender reacts to."""
from __future__ import annotations

import asyncio
import datetime
import io
from urllib.parse import quote

import aiohttp
import pytest
import telegram
from PIL import Image
from telegram.error import BadRequest, Forbidden, RetryAfter, TimedOut

from botrunner import json_codec
from botrunner.sender.json_call import Unplain, plain
from botrunner.sender.upload_call import mime_type, upload_body, upload_of, utf8_text
from tests.sender.lean_calls import TOKEN, both_paths, counting_posts, outcome, run


def jpeg(side: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side * 3, side), (200, 30, 30)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def without_ids(message: dict) -> dict:
    """A sent Message minus what differs between two sends of the same call (ids, date)."""
    document = {k: v for k, v in message["document"].items() if k not in ("file_id", "file_unique_id")}
    return {**{k: v for k, v in message.items() if k not in ("message_id", "date", "document")},
            "document": document}


def test_a_photo_goes_as_one_form_and_arrives_with_its_caption_and_bytes(emulator, monkeypatch):
    emu, control = emulator
    control.inject_message(TOKEN, 11, "hi")
    posted = counting_posts(monkeypatch)
    picture = jpeg()
    markup = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("New picture", callback_data="cap:new")]])
    result = run(emu.url, lambda c: c.call("sendPhoto", {"chat_id": 11, "photo": ("captcha.jpg", picture),
                                                         "caption": "Welcome, héllo!\n\nType the code",
                                                         "reply_markup": markup, "message_thread_id": None}))
    assert posted == [("sendPhoto", "form")]
    assert result["caption"] == "Welcome, héllo!\n\nType the code" and result["chat"]["id"] == 11
    file_id = result["photo"][-1]["file_id"]
    assert file_id and control.file(TOKEN, file_id) == picture
    sent = control.sent(TOKEN, 11)[-1]
    assert sent["method"] == "sendPhoto" and sent["text"] == result["caption"]
    assert sent["message"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "cap:new"


@pytest.mark.parametrize("upload", [("report.csv", b"a,b\n1,2\n"), b"\x00raw bytes\xff",
                                    ("отчёт \"1\" 100%.csv", b"id\n")])
def test_an_upload_arrives_as_ptb_sends_it(emulator, monkeypatch, upload):
    emu, control = emulator
    control.inject_message(TOKEN, 12, "hi")
    posted = counting_posts(monkeypatch)
    lean, ptb = both_paths(emu.url, "sendDocument", {"chat_id": 12, "document": upload, "caption": "é 1",
                                                     "disable_notification": True, "protect_content": None})
    assert posted == [("sendDocument", "form")]          # the PTB half is not posted by the lean path
    assert without_ids(lean) == without_ids(ptb)
    name = upload[0] if isinstance(upload, tuple) else "document"
    # aiohttp's form (PTB's through our transport too) sends a file name percent-encoded (RFC 7578 4.2)
    assert lean["document"]["file_name"] == (name if name.isalnum() or name == "report.csv" else quote(name, ""))
    assert control.file(TOKEN, lean["document"]["file_id"]) == control.file(TOKEN, ptb["document"]["file_id"])


@pytest.mark.parametrize("code, description, retry_after, expected", [
    (429, "Too Many Requests: retry after 7", 7, RetryAfter),
    (403, "Forbidden: bot was blocked by the user", None, Forbidden),
    (400, "Bad Request: wrong file identifier/HTTP URL specified", None, BadRequest),
])
def test_error_answers_map_to_the_exceptions_ptb_raises(emulator, code, description, retry_after, expected):
    emu, control = emulator
    control.inject_message(TOKEN, 13, "hi")
    control.add_fault("sendPhoto", error_code=code, description=description, retry_after=retry_after, times=2)
    lean, ptb = both_paths(emu.url, "sendPhoto", {"chat_id": 13, "photo": ("captcha.jpg", jpeg()), "caption": "c"})
    assert lean == ptb
    assert lean[0] is expected
    assert [e["method"] for e in control.sent(TOKEN, 13)] == []


def test_the_servers_own_refusals_map_as_ptb_maps_them(emulator):
    emu, control = emulator
    control.inject_message(TOKEN, 14, "hi")
    control.set_blocked(TOKEN, 14)
    blocked = both_paths(emu.url, "sendPhoto", {"chat_id": 14, "photo": ("captcha.jpg", jpeg())})
    unknown = both_paths(emu.url, "sendPhoto", {"chat_id": 99_999, "photo": ("captcha.jpg", jpeg())})
    assert blocked[0] == blocked[1] and blocked[0][0] is Forbidden
    assert unknown[0] == unknown[1] == (BadRequest, "Chat not found")


def test_a_server_slower_than_the_timeout_is_timed_out(emulator):
    emu, control = emulator
    control.inject_message(TOKEN, 15, "hi")
    control.add_fault("sendPhoto", delay=3.0)

    async def scenario(client):
        late = await outcome(client.call("sendPhoto", {"chat_id": 15, "photo": ("a.jpg", jpeg())}, timeout_s=0.3))
        return late, await client.call("sendPhoto", {"chat_id": 15, "photo": ("b.jpg", jpeg()), "caption": "after"})
    late, after = run(emu.url, scenario)
    assert late[0] is TimedOut
    assert after["caption"] == "after"


def test_what_counts_as_an_upload_and_its_mime_type():
    assert upload_of("photo", ("captcha.jpg", b"x")) == ("captcha.jpg", b"x")
    assert upload_of("anything", bytearray(b"x")) == ("anything", b"x")
    assert upload_of("photo", "AgACAgIAAxk_1") is None                 # a file_id is a plain string
    assert upload_of("caption", ("a.jpg", b"x")) is None               # a tuple elsewhere is a JSON list
    assert (mime_type("captcha.jpg"), mime_type("photo")) == ("image/jpeg", "application/octet-stream")


@pytest.mark.parametrize("params", [
    {"chat_id": 1, "photo": b"x", "schedule": datetime.datetime(2030, 1, 1)},
    {"chat_id": 1, "photo": telegram.InputFile(b"x", filename="a.jpg")},
    {"chat_id": 1, "media": [b"x", b"y"]},
])
def test_values_this_path_does_not_carry_are_left_to_ptb(params):
    with pytest.raises(Unplain):
        upload_body(params)


def aiohttp_form(params: dict, boundary: str) -> bytes:
    """The same call's form as aiohttp's form writer renders it (what this path posted before it rendered
    the form itself, and what PTB's request posts through our aiohttp transport)."""
    form = aiohttp.FormData(default_to_multipart=True)
    form._writer = aiohttp.MultipartWriter("form-data", boundary=boundary)     # a fixed boundary to compare
    for name, value in params.items():
        upload = upload_of(name, value)
        if upload is not None:
            form.add_field(name, upload[1], filename=upload[0], content_type=mime_type(upload[0]))
        elif isinstance(value, str):
            form.add_field(name, utf8_text(value))
        elif value is not None:
            form.add_field(name, json_codec.dumps_str(value, plain))
    writer = form()
    assert writer.content_type == f"multipart/form-data; boundary={boundary}"
    return asyncio.run(writer.as_bytes())


@pytest.mark.parametrize("params", [
    {"chat_id": 5, "photo": ("captcha.png", b"\x89PNG\r\n--x"), "caption": "Welcome, héllo!\n\nType the code",
     "reply_markup": telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("New", callback_data="c:n")]]),
     "message_thread_id": None, "disable_notification": True, "caption_entities": [{"type": "bold", "offset": 0,
                                                                                    "length": 7}]},
    {"chat_id": "@channel", "document": ("отчёт \"1\" 100%;\ta.csv", b"id\n1\n"), "caption": "\ud800 cut 😀"},
    {"chat_id": -100123, "document": b"\x00raw", "thumbnail": ("t.jpg", b"\xff\xd8"), "naïve_field": "x",
     "quote\"d": 1.5},
])
def test_the_form_is_byte_for_byte_the_one_aiohttps_writer_renders(params):
    body, headers = upload_body(params, boundary="b0undary")
    assert headers == {"Content-Type": "multipart/form-data; boundary=b0undary"}
    assert body == aiohttp_form(params, "b0undary")


@pytest.mark.parametrize("params", [
    {"chat_id": 1, "document": ("a.csv\r\nX-Injected: 1", b"x")},
    {"chat_id": 1, "photo": b"x", "bad\nname": "v"},
])
def test_a_control_character_in_a_part_header_is_refused_as_aiohttp_refuses_it(params):
    with pytest.raises(ValueError):
        aiohttp_form(params, "b")
    with pytest.raises(ValueError):
        upload_body(params)


def test_each_form_has_its_own_boundary():
    params = {"chat_id": 1, "photo": ("a.png", b"x")}
    assert upload_body(params)[1] != upload_body(params)[1]


def test_a_caption_with_lone_surrogates_goes_with_replacement_characters(emulator):
    """UTF-8 cannot carry a lone surrogate (hostile or cut text a handler echoes): the part gets U+FFFD
    instead of the call dying on the encode (which wedged the chat: the runner retried it forever)."""
    emu, control = emulator
    control.inject_message(TOKEN, 14, "hi")
    result = run(emu.url, lambda c: c.call("sendDocument", {"chat_id": 14, "document": ("a.txt", b"a"),
                                                            "caption": "\ud800 lone 😀 \udfff"}))
    assert result["caption"] == "\ufffd lone 😀 \ufffd"


def test_an_upload_is_not_tried_through_json_dumps_first(monkeypatch):
    """orjson's refusal of the bytes is enough to make it a form (json.dumps refusing them too cost more CPU
    than the form); only a call without uploads falls back to json.dumps."""
    from botrunner.sender.client import lean_body

    def no_stdlib_json(*args, **kwargs):
        raise AssertionError("json.dumps was asked")
    monkeypatch.setattr(json_codec.json, "dumps", no_stdlib_json)
    body, headers = lean_body({"chat_id": 1, "photo": ("a.png", b"\x89PNG"), "reply_markup": {"k": [1]}})
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=") and b'{"k":[1]}' in body
    with pytest.raises(AssertionError):
        lean_body({"chat_id": 1, "text": "\ud800"})             # orjson refuses a lone surrogate: json.dumps
