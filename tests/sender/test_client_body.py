"""The client sends a call as one JSON body (nested objects intact) and uploads as multipart."""
from __future__ import annotations

import asyncio
import json

from aiohttp import web

from botrunner.sender.client import BotApiClient


def captured_calls(calls: list[tuple[str, dict]]) -> list[tuple[str, object]]:
    """Send `calls` through the client to a server that records each body's content type and content."""
    seen: list[tuple[str, object]] = []

    async def endpoint(request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            seen.append((request.content_type, json.loads(await request.read())))
        else:
            seen.append((request.content_type, sorted((await request.post()).keys())))
        return web.json_response({"ok": True, "result": {"message_id": 1}})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", endpoint)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        client = BotApiClient(f"http://127.0.0.1:{port}", "1:t")
        await client.open()
        try:
            for method, params in calls:
                await client.call(method, params)
        finally:
            await client.close()
            await runner.cleanup()
    asyncio.run(main())
    return seen


def test_a_call_goes_as_json_with_its_nested_objects():
    markup = {"inline_keyboard": [[{"text": "Join", "callback_data": "join:1"}]]}
    seen = captured_calls([("sendMessage", {"chat_id": 5, "text": "hi", "reply_markup": markup})])
    assert seen == [("application/json", {"chat_id": 5, "text": "hi", "reply_markup": markup})]


def test_an_upload_goes_as_multipart():
    seen = captured_calls([("sendPhoto", {"chat_id": 5, "photo": b"\x89PNG...", "caption": "c"})])
    assert seen == [("multipart/form-data", ["caption", "chat_id", "photo"])]
