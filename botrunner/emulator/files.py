"""Files the bot sends: uploads, file_ids and URLs become records with deterministic ids.

URLs are recorded, never fetched (the emulator talks to nobody but the bot). Uploaded bytes are
kept so tests can read what the bot sent (getFile + /file/bot<token>/<path>, or the control plane).
"""
from __future__ import annotations

import mimetypes
import struct
from typing import Any

from aiohttp import web

from botrunner.emulator.envelope import bad_request
from botrunner.emulator.params import Params, Upload
from botrunner.emulator.state import BotState

_PREFIX = {"photo": "AgACAgIAAxk", "document": "BQACAgIAAxk"}
THUMB_SIDE = 90


def _register(state: BotState, kind: str, name: str, mime: str, data: bytes | None, url: str | None) -> dict:
    seq = len(state.files) + 1
    file_id = f"{_PREFIX.get(kind, 'CAACAgIAAxk')}{state.bot_id}_{seq}"
    extension = mimetypes.guess_extension(mime) or ".bin"
    record = {"file_id": file_id, "file_unique_id": f"AQAD{state.bot_id % 100000}_{seq}", "kind": kind,
              "file_name": name, "mime_type": mime, "file_size": len(data) if data is not None else 0,
              "data": data, "url": url, "file_path": f"{kind}s/file_{seq}{extension}"}
    state.files[file_id] = record
    return record


def accept_file(state: BotState, params: Params, field: str, kind: str) -> dict[str, Any]:
    """The file given in `field`: a multipart upload, "attach://<part>", a known file_id or a URL."""
    upload: Upload | None = params.files.get(field)
    value = params.text(field)
    if upload is None and value and value.startswith("attach://"):
        upload = params.files.get(value[len("attach://"):])
    if upload is not None:
        return _register(state, kind, upload.filename, upload.content_type, upload.data, None)
    if not value:
        raise bad_request(f"there is no {field} in the request")
    known = state.files.get(value)
    if known is not None:
        return known
    if value.startswith(("http://", "https://")):
        name = value.rstrip("/").rsplit("/", 1)[-1] or "file"
        return _register(state, kind, name, mimetypes.guess_type(name)[0] or "application/octet-stream", None, value)
    raise bad_request("wrong file identifier/HTTP URL specified")


def _png_size(data: bytes | None) -> tuple[int, int] | None:
    if data and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None


def photo_sizes(state: BotState, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Message.photo: a thumbnail and the full size, each with its own file_id (both resendable)."""
    width, height = _png_size(record["data"]) or (800, 600)
    scale = THUMB_SIDE / max(width, height, 1)
    thumb_id = record["file_id"] + "_t"
    state.files.setdefault(thumb_id, {**record, "file_id": thumb_id})
    full = {"file_id": record["file_id"], "file_unique_id": record["file_unique_id"], "width": width,
            "height": height}
    if record["file_size"]:
        full["file_size"] = record["file_size"]
    thumb = {"file_id": thumb_id, "file_unique_id": record["file_unique_id"] + "_t",
             "width": max(1, round(width * scale)), "height": max(1, round(height * scale))}
    return [thumb, full]


def document_object(record: dict[str, Any]) -> dict[str, Any]:
    """Message.document for a record."""
    document = {"file_id": record["file_id"], "file_unique_id": record["file_unique_id"],
                "file_name": record["file_name"], "mime_type": record["mime_type"]}
    if record["file_size"]:
        document["file_size"] = record["file_size"]
    return document


async def get_file(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    """getFile: a File with file_path for /file/bot<token>/<file_path>."""
    record = state.files.get(params.text("file_id") or "")
    if record is None:
        raise bad_request("invalid file_id")
    return {"file_id": record["file_id"], "file_unique_id": record["file_unique_id"],
            "file_size": record["file_size"], "file_path": record["file_path"]}


def download(state: BotState, file_path: str) -> web.Response:
    """The bytes of an uploaded file, as the real server's file endpoint serves them."""
    for record in state.files.values():
        if record["file_path"] == file_path and record["data"] is not None:
            return web.Response(body=record["data"], headers={"Content-Type": record["mime_type"]})
    return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
