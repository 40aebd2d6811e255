"""The Bot API envelope: `{"ok": true, "result": ...}` or an error whose HTTP status equals error_code."""
from __future__ import annotations

import json
from typing import Any, NamedTuple

from aiohttp import web

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

JSON_HEADERS = {"Content-Type": "application/json"}


class ApiError(Exception):
    """A Bot API error answer. `retry_after` / `migrate_to_chat_id` become `parameters`."""

    def __init__(self, code: int, description: str, retry_after: int | None = None,
                 migrate_to_chat_id: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        parameters = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


def bad_request(what: str) -> ApiError:
    """400 "Bad Request: <what>"."""
    return ApiError(400, f"Bad Request: {what}")


def forbidden(what: str) -> ApiError:
    """403 "Forbidden: <what>"."""
    return ApiError(403, f"Forbidden: {what}")


def too_many_requests(retry_after: int) -> ApiError:
    """429 with parameters.retry_after, exactly as Telegram words it."""
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


NOT_FOUND = ApiError(404, "Not Found")
METHOD_NOT_FOUND = ApiError(404, "Not Found: method not found")
INVALID_TOKEN = ApiError(401, "Unauthorized: invalid token specified")


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON, the way the real server writes it."""
    return _dumps(value).encode()


class Described(NamedTuple):
    """A result with the envelope's optional "description" (setWebhook: "Webhook was set")."""

    result: Any
    description: str


def ok_response(result: Any) -> web.Response:
    if isinstance(result, Described):
        body = {"ok": True, "result": result.result, "description": result.description}
        return web.Response(body=encode(body), headers=JSON_HEADERS)
    return web.Response(body=b'{"ok":true,"result":' + encode(result) + b"}", headers=JSON_HEADERS)


def raw_ok_response(result_json: bytes) -> web.Response:
    """Success envelope around a result that is already encoded (getUpdates joins stored bytes)."""
    return web.Response(body=b'{"ok":true,"result":' + result_json + b"}", headers=JSON_HEADERS)


def error_response(error: ApiError) -> web.Response:
    return web.Response(status=error.code, body=encode(error.body()), headers=JSON_HEADERS)
