"""The lean upload path: a call whose only non-JSON values are file uploads, as one multipart/form-data POST.

A new user's welcome is a photo (the captcha picture with the welcome as its caption), so uploads are on
the hot path too. python-telegram-bot builds an InputFile, a RequestParameter per value and a RequestData
before its transport builds the same aiohttp form; here the form is built from the params directly,
rendered to one body by aiohttp's multipart writer (streamed, the writer sends each boundary, header
block and value as its own socket write: ~17 send calls per photo, most of the client's CPU for it)
and posted by `JsonCaller.post` on the same pooled session, so the answer is mapped to the same
telegram.error.

Invariant: the form carries exactly what PTB's request would. Every value but None; a string as it is
(a lone surrogate, which UTF-8 cannot carry, as U+FFFD), anything else as its JSON text (a TelegramObject
as its dict); each upload as a part with the file name
and mime type PTB gives it (see `upload_of`). A value PTB would rewrite or that needs attach:// parts
(datetimes, InputFile, InputMedia with files, lists of uploads) raises Unplain: that call goes through PTB.
"""
from __future__ import annotations

import mimetypes
from typing import Any

import aiohttp

from botrunner import json_codec
from botrunner.sender.json_call import plain

FILE_FIELDS = frozenset({"photo", "document", "audio", "video", "voice", "animation", "video_note",
                         "sticker", "thumbnail"})
DEFAULT_MIME = "application/octet-stream"          # PTB's when the file name tells nothing


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


def upload_form(params: dict[str, Any]) -> aiohttp.FormData:
    """The multipart form of a call with uploads; raises Unplain for a value this path does not carry."""
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in params.items():
        if value is None:
            continue                                    # PTB drops None parameters
        upload = upload_of(name, value)
        if upload is not None:
            form.add_field(name, upload[1], filename=upload[0], content_type=mime_type(upload[0]))
        elif isinstance(value, str):
            form.add_field(name, utf8_text(value))
        else:
            form.add_field(name, json_codec.dumps_str(value, plain))
    return form


async def upload_body(params: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the call's multipart form, rendered in memory; raises Unplain as upload_form."""
    writer = upload_form(params)()
    return await writer.as_bytes(), {"Content-Type": writer.content_type}

