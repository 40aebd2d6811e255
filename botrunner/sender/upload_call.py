"""The lean upload path: a call whose only non-JSON values are file uploads, as one multipart/form-data POST.

A new user's welcome is a photo (the captcha picture with the welcome as its caption), so uploads are on
the hot path too. python-telegram-bot builds an InputFile, a RequestParameter per value and a RequestData
before its transport builds the same aiohttp form; here the form is rendered from the params directly into
one body, byte for byte as aiohttp's form writer renders it (its part headers, its quoting of names and file
names, by its own `content_disposition_header`), without the writer's payload object, header multidict and
registry lookup per part (they cost more CPU than the rest of the call), and posted by `JsonCaller.post` on
the same pooled session, so the answer is mapped to the same telegram.error.

Invariant: the form carries exactly what PTB's request would. Every value but None; a string as it is
(a lone surrogate, which UTF-8 cannot carry, as U+FFFD), anything else as its JSON text (a TelegramObject
as its dict); each upload as a part with the file name
and mime type PTB gives it (see `upload_of`). A value PTB would rewrite or that needs attach:// parts
(datetimes, InputFile, InputMedia with files, lists of uploads) raises Unplain: that call goes through PTB.
A name or file name with a control character is refused (ValueError) as aiohttp's form refuses it.
"""
from __future__ import annotations

import functools
import mimetypes
import os
import re
from typing import Any

from aiohttp.helpers import content_disposition_header

from botrunner import json_codec
from botrunner.sender.json_call import plain

FILE_FIELDS = frozenset({"photo", "document", "audio", "video", "voice", "animation", "video_note",
                         "sticker", "thumbnail"})
DEFAULT_MIME = "application/octet-stream"          # PTB's when the file name tells nothing
TEXT_MIME = "text/plain; charset=utf-8"            # what aiohttp's form gives a string part
# the characters aiohttp refuses in a header (rfc9110 5.5, rfc9112 4): a name or file name holding one
# would inject a header line into the part
FORBIDDEN_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def upload_of(name: str, value: Any) -> tuple[str, bytes] | None:
    """(file name, bytes) when `value` is an upload: bytes (named after the field), or (file_name, bytes)
    in a file field; None for any other value (a file_id or URL is a plain string)."""
    if isinstance(value, (bytes, bytearray)):
        return name, bytes(value)
    if (name in FILE_FIELDS and isinstance(value, tuple) and len(value) == 2
            and isinstance(value[0], str) and isinstance(value[1], (bytes, bytearray))):
        return value[0], bytes(value[1])
    return None


def mime_type(file_name: str) -> str:
    """The part's Content-Type as PTB's InputFile guesses it (from the name only, never the bytes)."""
    return mimetypes.guess_type(file_name, strict=False)[0] or DEFAULT_MIME


def utf8_text(value: str) -> str:
    """A string as a form part can carry it: UTF-8, so a lone surrogate (hostile or cut text) becomes U+FFFD
    (a JSON value keeps it, escaped)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


@functools.lru_cache(maxsize=1024)
def part_head(name: str, file_name: str | None) -> bytes:
    """One part's header block as aiohttp's form writer renders it (Content-Type, Content-Disposition, the
    blank line); a few names and captcha file names recur, so each is rendered once."""
    for text in (name, file_name):
        if text is not None and FORBIDDEN_IN_HEADER.search(text):
            raise ValueError(f"Forbidden control character in the form field {name!r}")
    if file_name is None:
        content_type, disposition = TEXT_MIME, content_disposition_header("form-data", name=name)
    else:
        content_type = mime_type(file_name)
        disposition = content_disposition_header("form-data", name=name, filename=file_name)
    return f"Content-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()


def upload_parts(params: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """(header block, content) of each part of the call's form; raises Unplain for a value this path
    does not carry."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue                                    # PTB drops None parameters
        upload = upload_of(name, value)
        if upload is not None:
            parts.append((part_head(name, upload[0]), upload[1]))
        elif isinstance(value, str):
            parts.append((part_head(name, None), utf8_text(value).encode()))
        else:
            parts.append((part_head(name, None), json_codec.dumps(value, plain)))
    return parts


def upload_body(params: dict[str, Any], boundary: str | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the call's multipart form; raises Unplain as upload_parts. `boundary`: random
    (128 bits, as aiohttp's) unless given."""
    boundary = boundary or os.urandom(16).hex()
    delimiter = f"--{boundary}\r\n".encode()
    chunks: list[bytes] = []
    for head, content in upload_parts(params):
        chunks += (delimiter, head, content, b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), {"Content-Type": f"multipart/form-data; boundary={boundary}"}
