"""The hot path's JSON (botrunner/json_codec.py): the standard library's values and errors, orjson's speed."""
from __future__ import annotations

import datetime
import json
import math
import sys
from dataclasses import dataclass

import pytest

from botrunner import json_codec
from botrunner.sender.json_call import Unplain, plain

UPDATE = {"update_id": 10, "message": {"message_id": 1, "date": 1733112000, "text": "/start Привет 😀 \u2028",
                                      "chat": {"id": -1001234567890, "type": "supergroup", "title": "Q&A <b>"},
                                      "from": {"id": 2**53 - 1, "is_bot": False, "first_name": "Ann \"A\" \\"},
                                      "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
                                      "ratio": 0.1, "none": None, "yes": True}}

# orjson refuses these; the standard library reads them, and so must `loads`
REFUSED_BY_ORJSON = [b'"\\ud800"', b'"x\\udfff"', b'["\\ude00\\ud83d"]', b"NaN", b"[-Infinity]", b"1e400",
                     b'{"a":"\xed\xa0\x80"}']


@pytest.mark.parametrize("raw", [json.dumps(UPDATE).encode(), json.dumps(UPDATE, ensure_ascii=False).encode(),
                                 json.dumps(UPDATE), b'"\\ud83d\\ude00"', b'{"a":1,"a":2}', b"18446744073709551615",
                                 b"-9223372036854775808", b"-0.0", b'"\\u0000"', *REFUSED_BY_ORJSON])
def test_loads_reads_what_json_loads_reads(raw):
    got, expected = json_codec.loads(raw), json.loads(raw)
    assert repr(got) == repr(expected)            # nan != nan; repr also tells int from float


def test_an_integer_past_64_bits_reads_as_a_float():
    """The one documented difference (Telegram's ids have at most 52 bits): never an error."""
    assert json_codec.loads(b"[18446744073709551616]") == [float(2**64)]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,]", b"'x'", b'"\xff"', b"[" * 2000 + b"]" * 2000,
                                 "[" * 2000 + "]" * 2000 + " "])
def test_what_is_not_json_or_not_utf8_or_too_deep_is_a_value_error(raw):
    with pytest.raises(ValueError):
        json_codec.loads(raw)


def test_nesting_too_deep_is_refused_whatever_the_recursion_limit():
    """eth-account's py_ecc raises the process's recursion limit to 100000 when imported (the airdrop bot's
    wallet does): json.loads would then read 2000 levels, and 200000 would overflow the C stack."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        for depth in (2000, 200_000):
            for read in (json_codec.loads, json_codec.loads_lossy):
                for head in (b"", b"[NaN,", b'["\\ud800",'):      # orjson stops at these before the depth
                    with pytest.raises(ValueError, match="nested too deep"):
                        read(head + b"[" * depth + b"]" * depth + (b"]" if head else b""))
        brackets = "[{" * 2000 + '\\"'                     # inside a string (an escaped quote too): not nesting
        got = json_codec.loads(f'["{brackets}", NaN, [[1]]]'.encode())
        assert repr(got) == repr(["[{" * 2000 + '"', float("nan"), [[1]]])
    finally:
        sys.setrecursionlimit(before)


def test_a_server_answer_with_bad_utf8_is_read_with_replacements():
    assert json_codec.loads_lossy(b'{"d":"bad \xff\xfe"}') == {"d": "bad \ufffd\ufffd"}
    assert json_codec.loads_lossy(b'{"d":"\\ud800"}') == {"d": "\ud800"}


def test_dumps_is_compact_utf8_json_byte_for_byte():
    assert json_codec.dumps(UPDATE) == json.dumps(UPDATE, separators=(",", ":"), ensure_ascii=False).encode()
    assert json_codec.dumps_str(UPDATE) == json_codec.dumps(UPDATE).decode()


@pytest.mark.parametrize("value", [{"text": "\ud800 lone"}, ["\udfff", "😀"], {1: "int key", "b": {2.5: True}},
                                   {"big": 2**70, "neg": -(2**64)}])
def test_what_orjson_refuses_is_written_by_json_dumps_escaped(value):
    written = json_codec.dumps(value)
    assert written == json.dumps(value, separators=(",", ":")).encode()
    assert written.isascii() and json_codec.loads(written) == json.loads(written)


def test_nan_is_written_as_null():
    assert json_codec.dumps({"x": math.nan, "y": math.inf}) == b'{"x":null,"y":null}'


def test_default_turns_objects_into_values_and_its_refusal_propagates():
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="x")]])
    assert json.loads(json_codec.dumps({"reply_markup": markup}, plain)) == {"reply_markup": markup.to_dict()}

    @dataclass
    class Point:
        x: int
    for value in (datetime.datetime(2026, 1, 1), datetime.date(2026, 1, 1), Point(1), object()):
        with pytest.raises(Unplain):             # through PTB, as with json.dumps: orjson would write them
            json_codec.dumps({"v": value}, plain)
    with pytest.raises(Unplain):
        json_codec.dumps({"v": object(), "t": "\ud800"}, plain)   # the fallback asks `default` too
    with pytest.raises(TypeError):
        json_codec.dumps({"v": object()})


def test_try_dumps_is_dumps_where_orjson_writes_and_none_where_it_would_fall_back():
    assert json_codec.try_dumps(UPDATE) == json_codec.dumps(UPDATE)
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup
    markup = {"reply_markup": InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="x")]])}
    assert json_codec.try_dumps(markup, plain) == json_codec.dumps(markup, plain)
    for value in ({"text": "\ud800 lone"}, {1: "int key"}, {"big": 2**70}, {"photo": b"\x89PNG"}):
        assert json_codec.try_dumps(value, plain) is None
