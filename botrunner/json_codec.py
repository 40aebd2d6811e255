"""The hot path's JSON: getUpdates answers, lane entries, Bot API request bodies and answers.

Encoded and decoded by orjson (C: about 2-5x faster decoding and 7-16x faster encoding than the standard
library on updates and send params), with the standard library behind it for what orjson refuses, so
nothing orjson cannot carry is lost or fatal:
- `loads` gives what `json.loads` gives. orjson refuses lone surrogate escapes ("\\ud800": JSON
  carries them, UTF-8 cannot), NaN / Infinity and numbers past a double: those inputs are read by
  `json.loads`, as before (bytes with UTF-8-encoded surrogates too). Two differences: an integer outside
  64 bits reads as a float (json.loads: an int; Telegram's ids have at most 52 significant bits), and a
  document nested past ~1000 levels is a ValueError (json.loads: RecursionError).
- `dumps` writes compact UTF-8 (json.dumps with separators=(",", ":") and ensure_ascii=False). A value
  orjson refuses (a str with a lone surrogate, which is not UTF-8; a dict with non-str keys; an int past
  64 bits) is written by json.dumps with the same separators and ASCII escapes, which carry every str.
  Datetimes and dataclasses go to `default` as with json.dumps (orjson would write them itself); NaN and
  the infinities are written as null (json.dumps writes NaN, which no JSON parser but Python's reads).
Either output is plain JSON that any reader, older releases included, reads to the same values.
Not used where bytes must match across releases: the outbox journal's call digests
(botrunner/sender/journal.py) stay on json.dumps.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

# datetimes / dataclasses reach `default` as with json.dumps (the sender's `plain` sends them through PTB)
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

Default = Callable[[Any], Any]
MAX_DEPTH = 1024                                            # orjson's own limit
_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)   # a string (skipped), or a bracket


def loads(data: bytes | bytearray | str) -> Any:
    """The value of one JSON document, as json.loads reads it (bytes as UTF-8); ValueError when it is not
    JSON (UnicodeDecodeError for bytes that are not UTF-8), or nests deeper than the parsers follow."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        _refuse_deep(exc)
        return _stdlib_loads(data)


def loads_lossy(data: bytes) -> Any:
    """`loads` for a server's answer: bytes that are not UTF-8 are replaced (U+FFFD), never fatal."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        _refuse_deep(exc)
        return _stdlib_loads(data.decode("utf-8", "replace"))


def _refuse_deep(exc: orjson.JSONDecodeError) -> None:
    """orjson stops at 1024 levels; json.loads would go on as deep as the recursion limit lets it, and a
    library may raise that limit for the whole process (py_ecc, under eth-account, sets 100000), past
    what the C stack holds: a document orjson found too deep is refused here, never handed on."""
    if str(exc).startswith("depth limit exceeded"):
        raise ValueError(f"JSON nested too deep ({exc})") from None


def _stdlib_loads(data: bytes | bytearray | str) -> Any:
    if _deeper_than(data, MAX_DEPTH):     # orjson may have stopped at another error before the depth
        raise ValueError(f"JSON nested too deep (over {MAX_DEPTH} levels)")
    try:
        return json.loads(data)
    except RecursionError:      # json.loads' answer to [[[[...: a ValueError for every caller, like orjson's
        raise ValueError("JSON nested too deep") from None


def _deeper_than(data: bytes | bytearray | str, limit: int) -> bool:
    """True when arrays and objects nest more than `limit` deep (strings skipped): the one pass over a
    document orjson refused, before json.loads, whose C recursion a raised recursion limit no longer stops."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    depth = 0
    for token in _STRUCTURE.finditer(raw):
        mark = token.group()
        if mark in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif mark in (b"]", b"}"):
            depth -= 1
    return False


def dumps(value: Any, default: Default | None = None) -> bytes:
    """Compact JSON of `value` as UTF-8 bytes; `default` turns other objects into JSON values (or raises,
    as with json.dumps: its exception propagates)."""
    try:
        return orjson.dumps(value, default, _OPTIONS)
    except orjson.JSONEncodeError:
        # not UTF-8 text, non-str keys, big ints, or `default` refused: json.dumps says which, or carries it
        return json.dumps(value, default=default, separators=(",", ":")).encode()


def try_dumps(value: Any, default: Default | None = None) -> bytes | None:
    """`dumps` without its standard-library fallback: None when orjson refuses the value (or `default`
    raises), for a caller with a cheaper way out than json.dumps for some of those values."""
    try:
        return orjson.dumps(value, default, _OPTIONS)
    except orjson.JSONEncodeError:
        return None


def dumps_str(value: Any, default: Default | None = None) -> str:
    """`dumps` as str (a Redis argument or a form field)."""
    return dumps(value, default).decode()
