"""The lean send path: a plain Bot API call as one JSON POST on the worker's pooled aiohttp session.

Most of the worker's calls (sendMessage, editMessageText, answerCallbackQuery ...) carry only JSON
values. For them python-telegram-bot's request layers (a RequestData of RequestParameters per call,
defaults insertion, its request wrapper) cost more CPU than the HTTP exchange itself, so they are
posted here directly; calls with uploads are posted as a multipart body by the same `post`
(botrunner/sender/upload_call.py); values neither can carry (datetimes, InputFile ...) still go through
PTB (`Unplain`). The answer is mapped exactly as PTB's `BaseRequest._request_wrapper` and
`Bot.do_api_request` map it: the same `telegram.error` class and message for the same status and
body (RetryAfter, ChatMigrated, Forbidden, BadRequest, InvalidToken, Conflict, NetworkError), a
timeout as TimedOut and a failed connection as NetworkError, so the sender's 429/403 handling cannot
tell the two paths apart.
"""
from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import aiohttp
from telegram import TelegramObject
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from yarl import URL

from botrunner import json_codec

JSON_HEADERS = {"Content-Type": "application/json"}


class Unplain(TypeError):
    """A parameter JSON cannot carry as is: the call goes through python-telegram-bot instead."""


def plain(value: Any) -> Any:
    """The JSON encoder's fallback: a TelegramObject as its dict (as PTB sends it); anything else is not plain."""
    if isinstance(value, TelegramObject):
        return value.to_dict()
    raise Unplain(type(value).__name__)


def encode(params: dict[str, Any]) -> bytes:
    """The call's JSON body; raises Unplain when a value is not JSON (bytes, datetime, InputFile ...)."""
    return json_codec.dumps(params, plain)


def error_for(status: int, payload: bytes, method: str) -> TelegramError:
    """The telegram.error a non-2xx answer becomes, as PTB maps it (ChatMigrated / RetryAfter first)."""
    try:
        message = f"{HTTPStatus(status).phrase} ({status})"
    except ValueError:
        message = f"Unknown HTTPError ({status})"
    try:
        answer = json_codec.loads_lossy(payload)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        message += f". Parsing the server response {payload!r} failed"
    else:
        message = answer.get("description") or message
        parameters = answer.get("parameters")
        if parameters:
            if parameters.get("migrate_to_chat_id"):
                return ChatMigrated(parameters["migrate_to_chat_id"])
            if parameters.get("retry_after"):
                return RetryAfter(parameters["retry_after"])
            message += f". The server response contained unknown parameters: {parameters}"
    return _by_status(status, message, method)


def _by_status(status: int, message: str, method: str) -> TelegramError:
    if status == HTTPStatus.FORBIDDEN:
        return Forbidden(message)
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        # what Bot.do_api_request raises on an uninitialized bot (the worker never calls bot.initialize)
        return InvalidToken(f"Either the bot token was rejected by Telegram or the endpoint '{method}' does not exist.")
    if status == HTTPStatus.BAD_REQUEST:
        return BadRequest(message)
    if status == HTTPStatus.CONFLICT:
        return Conflict(message)
    return NetworkError(message)


def result_of(payload: bytes) -> Any:
    """The `result` of a 2xx answer (TelegramError for a body that is not the Bot API's JSON)."""
    try:
        return json_codec.loads(payload)["result"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TelegramError("Invalid server response") from exc


class JsonCaller:
    """Posts lean calls on a session someone else owns and opens (the PTB request's, one pool)."""

    def __init__(self, base_url: str, timeout_s: float, connect_timeout_s: float = 5.0) -> None:
        self.base_url = base_url                  # .../bot<token>
        self.connect_timeout_s = connect_timeout_s
        self.default_timeout = self._timeout(timeout_s)
        self.urls: dict[str, URL] = {}            # parsed once per method (aiohttp parses a str per request)

    def _timeout(self, total: float) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=total, sock_connect=self.connect_timeout_s)

    def _url(self, method: str) -> URL:
        url = self.urls.get(method)
        if url is None:
            url = self.urls[method] = URL(f"{self.base_url}/{method}")
        return url

    async def post(self, session: aiohttp.ClientSession, method: str, body: bytes, headers: dict[str, str],
                   timeout_s: float | None = None) -> Any:
        """POST `body` (JSON, or a rendered multipart form) with its Content-Type `headers` to `method`;
        the result, or the telegram.error PTB would have raised."""
        timeout = self.default_timeout if timeout_s is None else self._timeout(timeout_s)
        try:
            async with session.post(self._url(method), data=body, headers=headers, timeout=timeout) as resp:
                status, payload = resp.status, await resp.read()
        except asyncio.TimeoutError as exc:
            raise TimedOut() from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
        if 200 <= status <= 299:
            return result_of(payload)
        raise error_for(status, payload, method)
