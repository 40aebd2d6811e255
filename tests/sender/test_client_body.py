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
            form = await request.post()
            seen.append((request.content_type, {name: (value.filename, value.content_type, value.file.read())
                                                 if isinstance(value, web.FileField) else value
                                                 for name, value in form.items()}))
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


def test_an_upload_goes_as_multipart_with_every_value_as_ptb_encodes_it():
    markup = {"inline_keyboard": [[{"text": "New", "callback_data": "cap:new"}]]}
    seen = captured_calls([("sendPhoto", {"chat_id": 5, "photo": ("captcha.jpg", b"\xff\xd8jpeg"), "caption": "c é",
                                          "reply_markup": markup, "disable_notification": True,
                                          "message_thread_id": None}),
                           ("sendDocument", {"chat_id": 5, "document": b"\x00raw"})])
    photo, document = seen
    assert photo == ("multipart/form-data", {"chat_id": "5", "caption": "c é", "disable_notification": "true",
                                             "photo": ("captcha.jpg", "image/jpeg", b"\xff\xd8jpeg"),
                                             "reply_markup": photo[1]["reply_markup"]})
    assert json.loads(photo[1]["reply_markup"]) == markup
    assert document == ("multipart/form-data", {"chat_id": "5",
                                                "document": ("document", "application/octet-stream", b"\x00raw")})
