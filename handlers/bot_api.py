"""The exceptions to "handlers never talk HTTP": synchronous Bot API reads a handler must wait for,
uploads of user exports, and the notices of background jobs.

Verifying a channel task or the withdraw gate needs getChatMember's *result* inside the handler,
and the runner's sender only sends after the handler returns. So handlers get this small client:
one pooled httpx connection per worker, a short timeout (BOT_API_TIMEOUT_S), reads only. The one
write is `send_document` for exports: a file of up to 50 MB must stream from disk (the queued
outbox holds its calls in memory and in the sender's journal), with a timeout long enough for it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from loguru import logger

MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})
UPLOAD_TIMEOUT_S = 600.0        # an export part of up to 50 MB on a slow link


class BotApiError(Exception):
    """The Bot API could not answer (network, timeout, error reply)."""


class BotApi:
    """`call(method, **params)` -> result; `is_member(chat, user)` for task and withdraw checks."""

    READ_ONLY = frozenset({"getChatMember", "getChat", "getMe"})

    def __init__(self, api_url: str, token: str, timeout_s: float = 5.0) -> None:
        self.base = f"{api_url.rstrip('/')}/bot{token}/"
        self.http = httpx.Client(timeout=timeout_s)

    def call(self, method: str, **params: Any) -> Any:
        if method not in self.READ_ONLY:
            raise ValueError(f"{method} must be queued with ctx.call(), not called from a handler")
        try:
            reply = self.http.post(self.base + method, json=params).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise BotApiError(f"{method}: {exc!r}") from None
        if not reply.get("ok"):
            raise BotApiError(f"{method}: {reply.get('error_code')} {reply.get('description')}")
        return reply["result"]

    def send_document(self, chat_id: str | int, path: Path, file_name: str, caption: str = "") -> Any:
        """Upload `path` as a document, streamed from disk; BotApiError when it was not accepted."""
        try:
            with open(path, "rb") as handle:
                reply = self.http.post(self.base + "sendDocument", data={"chat_id": str(chat_id), "caption": caption},
                                       files={"document": (file_name, handle, "application/gzip")},
                                       timeout=UPLOAD_TIMEOUT_S).json()
        except (httpx.HTTPError, ValueError, OSError) as exc:
            raise BotApiError(f"sendDocument: {exc!r}") from None
        if not reply.get("ok"):
            raise BotApiError(f"sendDocument: {reply.get('error_code')} {reply.get('description')}")
        return reply["result"]

    def send_message(self, chat_id: str | int, text: str) -> Any:
        """One plain message from a background job (a ban's end), outside any update; BotApiError when
        refused. Few and small: they skip the sender's flood buckets."""
        try:
            reply = self.http.post(self.base + "sendMessage", json={"chat_id": chat_id, "text": text}).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise BotApiError(f"sendMessage: {exc!r}") from None
        if not reply.get("ok") and reply.get("error_code") != 403:      # 403: they blocked the bot; fine
            raise BotApiError(f"sendMessage: {reply.get('error_code')} {reply.get('description')}")
        return reply.get("result")

    def is_member(self, chat_id: str | int, user_id: int) -> bool | None:
        """True/False from getChatMember; None when Telegram could not be asked (say 'try again')."""
        try:
            member = self.call("getChatMember", chat_id=chat_id, user_id=user_id)
        except BotApiError as exc:
            logger.warning("getChatMember({}, {}) failed: {}", chat_id, user_id, exc)
            return None
        return member.get("status") in MEMBER_STATUSES or bool(member.get("is_member"))

    def close(self) -> None:
        self.http.close()
