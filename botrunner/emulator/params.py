"""Method parameters from every encoding the Bot API accepts, with typed accessors.

Query string, JSON body, urlencoded and multipart forms all end up in one `Params`. Nested
fields (reply_markup, entities, allowed_updates) are objects in JSON bodies and JSON strings
in forms; `json_field()` accepts both.

A multipart body is streamed part by part (`request.multipart()`), each part read once into memory
and its Content-Disposition parsed once per distinct header (a bot sends the same field names in every
call, so they repeat): aiohttp's `request.post()` spools every file into a temporary file to be read
back and parses each part's disposition twice (name, filename), and its `content_type` parses a
multipart header (unique per request by its boundary, so never cached) with the email package. Those
were most of the server's CPU for a photo upload; the values are the same.

Every string that comes out is well-formed Unicode, or the request is a 400 "strings must be encoded in
UTF-8" (TDLib's words): bytes that are not UTF-8 in any encoding, and lone surrogates, which only a
JSON body can carry (an escape such as "\\ud800" decodes to one), in any field, nested ones too. Such a
string cannot be encoded into an answer or a stored message: it used to reach a handler as a 500.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Literal, overload
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from botrunner.emulator.envelope import ApiError, bad_request

_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
MULTIPART = "multipart/form-data"
NOT_UTF8 = "strings must be encoded in UTF-8"
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart part."""

    filename: str
    content_type: str
    data: bytes


class Params:
    """Decoded parameters of one request; values are str (forms) or any JSON value (JSON bodies)."""

    __slots__ = ("values", "files")

    def __init__(self, values: dict[str, Any], files: dict[str, Upload] | None = None) -> None:
        self.values = values
        self.files = files or {}

    def __contains__(self, name: str) -> bool:
        return name in self.values or name in self.files

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def text(self, name: str, default: str | None = None) -> str | None:
        """A string parameter; JSON numbers are turned into their decimal text."""
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)

    @overload
    def integer(self, name: str, default: int) -> int: ...
    @overload
    def integer(self, name: str, *, required: Literal[True]) -> int: ...
    @overload
    def integer(self, name: str, default: int | None = None, required: bool = False) -> int | None: ...
    def integer(self, name: str, default: int | None = None, required: bool = False) -> int | None:
        """An integer parameter; a missing one is `default` unless required ("<name> is empty")."""
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            try:
                return int(float(str(value)))
            except ValueError:
                raise bad_request(f"invalid {name} specified") from None

    def lenient_integer(self, name: str, default: int) -> int:
        """An integer the real server never rejects (limit, timeout, offset): junk means default."""
        try:
            value = self.integer(name, default)
        except ApiError:
            return default
        return default if value is None else value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in _TRUE_WORDS

    def json_field(self, name: str, error: str | None = None) -> Any:
        """A nested object: as-is from JSON bodies, decoded from a JSON string in forms."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(error or f"can't parse {name} JSON object") from None


async def read_params(request: web.Request) -> Params:
    """Merge the query string and the body (body wins), whatever its encoding; text that is not
    well-formed Unicode is a 400."""
    try:
        return await _read_params(request)
    except UnicodeError:
        raise bad_request(NOT_UTF8) from None


async def _read_params(request: web.Request) -> Params:
    values: dict[str, Any] = _query(request) if request.query_string else {}
    if not request.body_exists:
        return Params(values)
    if _is_multipart(request.headers.get(hdrs.CONTENT_TYPE, "")):
        return await _multipart(request, values)
    content_type = request.content_type
    if content_type == "application/json":
        values.update(await _json_body(request))
        return Params(values)
    if content_type == "application/x-www-form-urlencoded":
        body = await request.read()
        values.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"))
        return Params(values)
    return Params(values)


def _query(request: web.Request) -> dict[str, str]:
    """The query string's values, the first of a repeated name (as aiohttp's `request.query` gives them),
    percent-decoded strictly: aiohttp's decoding puts U+FFFD in place of bytes that are not UTF-8."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True, errors="strict"):
        values.setdefault(name, value)
    return values


async def _json_body(request: web.Request) -> dict[str, Any]:
    body = await request.read()
    if not body.strip():
        return {}
    try:
        decoded = json.loads(body)
    except UnicodeDecodeError:
        raise                           # bytes that are not UTF-8: read_params' 400
    except ValueError:
        raise bad_request("can't parse JSON object") from None
    if not isinstance(decoded, dict):
        raise bad_request("JSON object expected")
    if _SURROGATE_ESCAPE.search(body):  # a pair is an emoji (json.dumps' default writes them); a lone one is not
        _check_encodable(decoded)
    return decoded


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_encodable(value: Any) -> None:
    """Raise UnicodeEncodeError if any string in a decoded JSON value (keys too) holds a lone surrogate."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_encodable(key)
            _check_encodable(item)
    elif isinstance(value, list):
        for item in value:
            _check_encodable(item)


def _is_multipart(raw_content_type: str) -> bool:
    """Whether the body is a multipart form, from the header's media type (before any parameter)."""
    return raw_content_type.partition(";")[0].strip().lower() == MULTIPART


@functools.lru_cache(maxsize=1024)
def _part_names(disposition: str | None) -> tuple[str | None, str | None]:
    """(name, filename) of a part's Content-Disposition header, as aiohttp's BodyPartReader reads them."""
    _, options = parse_content_disposition(disposition)
    return content_disposition_filename(options, "name"), content_disposition_filename(options, "filename")


async def _multipart(request: web.Request, values: dict[str, Any]) -> Params:
    """Every part of a multipart form: a part with a file name is an Upload, any other a value."""
    files: dict[str, Upload] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise bad_request("can't parse multipart form: nested multipart parts are not supported")
        name, filename = _part_names(part.headers.get(hdrs.CONTENT_DISPOSITION))
        if name is None:
            raise bad_request("can't parse multipart form: a part has no name")
        data = await part.read(decode=True)
        part_type = part.headers.get(hdrs.CONTENT_TYPE)
        if filename:
            files[name] = Upload(filename, part_type or OCTET_STREAM, bytes(data))
        elif part_type is None or part_type.startswith("text/"):
            values[name] = data.decode(part.get_charset(default="utf-8"))
        else:
            values[name] = bytes(data)
    return Params(values, files)
