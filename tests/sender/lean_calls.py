"""Shared by the lean-path tests: a client on the local Bot API server, both paths of one call, a spy
on what the lean paths posted."""
from __future__ import annotations

import asyncio

import telegram

from botrunner.sender import json_call
from botrunner.sender.client import BotApiClient, as_input_files

TOKEN = "778:lean-path"


def run(url: str, scenario, timeout_s: float = 30.0):
    """scenario(client) on an opened client of the server at `url`."""
    async def main():
        client = BotApiClient(url, TOKEN, timeout_s=timeout_s)
        await client.open()
        try:
            return await scenario(client)
        finally:
            await client.close()
    return asyncio.run(main())


async def outcome(call):
    """The call's result, or (exception class, message) for a telegram.error."""
    try:
        return await call
    except telegram.error.TelegramError as exc:
        return type(exc), exc.message


def both_paths(url: str, method: str, params: dict):
    """(lean outcome, PTB outcome) of the same call: the result, or (exception class, message)."""
    async def scenario(client):
        lean = await outcome(client.call(method, params))
        ptb = await outcome(client.bot.do_api_request(method, as_input_files(params)))
        return lean, ptb
    return run(url, scenario)


def counting_posts(monkeypatch) -> list[tuple[str, str]]:
    """(method, "json" or "form") of every call the lean paths posted (spied on JsonCaller.post)."""
    posted: list[tuple[str, str]] = []
    original = json_call.JsonCaller.post

    async def spy(self, session, method, body, headers, timeout_s=None):
        kind = headers["Content-Type"].partition(";")[0]
        posted.append((method, {"application/json": "json", "multipart/form-data": "form"}[kind]))
        return await original(self, session, method, body, headers, timeout_s)
    monkeypatch.setattr(json_call.JsonCaller, "post", spy)
    return posted
