"""Text JSON carries but UTF-8 does not (lone surrogates: Telegram escapes them, "\\ud800", when a text is cut
inside a pair), non-BMP characters and separators, through the real pipeline: the poller's getUpdates answer,
intake into the lanes (real Redis), the lane entry's decode, the handler, the sender's request body and the
answer. Nothing is lost or fatal, and what the lanes hold reads the same with the standard library (what
older releases read them with). A tiny fake Bot API serves the batch and records the bodies: the local
Bot API server cannot write a lone surrogate."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from botrunner.bot.context import Services
from botrunner.bot.router import Router
from botrunner.bot.states import MemoryStates
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.poller import Poller
from botrunner.intake.store import Intake, lane_for
from botrunner.lanes.chat_order import Job
from botrunner.lanes.reader import decoded
from botrunner.processing.completion import Completion
from botrunner.processing.processor import Processor
from botrunner.redis_keys import GROUP, Keys
from botrunner.redis_replies import text
from botrunner.sender.client import BotApiClient
from botrunner.sender.flood_limiter import FloodLimiter, Limits
from botrunner.sender.journal import OutboxJournal
from botrunner.sender.sender import Sender
from tests.aio import run
from tests.updates import message

TOKEN = "779:hostile"
KEYS = Keys.for_token(TOKEN)
LANES = 4

# lone surrogates can only be written escaped; the rest goes once escaped (ASCII), once as raw UTF-8
TEXTS = ["\ud800 a lone high surrogate", "a lone low one \udfff", "\ud800\ud800 two highs", "\ude00\ud83d reversed",
         "😀 🇺🇦 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 non-BMP", "Привет 你好 \u2028 \u2029 \x00 nul"]
RAW_UTF8 = {"😀 🇺🇦 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 non-BMP, raw", "Привет 你好 \u2028 \u2029 \x00 nul, raw"}


def updates() -> list[dict]:
    texts = TEXTS + sorted(RAW_UTF8)
    return [message(600 + n, 7600 + n, t) for n, t in enumerate(texts)]


def written(update: dict) -> bytes:
    """An update as Telegram writes it: escaped (a non-BMP character as an escaped pair) or raw UTF-8."""
    return json.dumps(update, ensure_ascii=update["message"]["text"] not in RAW_UTF8).encode()


def batch_answer() -> bytes:
    return b'{"ok":true,"result":[' + b",".join(written(u) for u in updates()) + b"]}"


def echo_router() -> Router:
    router = Router()

    @router.default()
    def echo(ctx):
        ctx.reply(ctx.text, reply_markup={"inline_keyboard": [[{"text": ctx.text[:8], "callback_data": "x"}]]})
    return router


class FakeApi:
    """getUpdates: the batch once, then nothing; sendMessage: records the raw body, answers the message
    back (escaped as Telegram would)."""

    def __init__(self) -> None:
        self.served = 0
        self.bodies: list[bytes] = []

    async def get_updates(self, request: web.Request) -> web.Response:
        self.served += 1
        body = batch_answer() if self.served == 1 else b'{"ok":true,"result":[]}'
        if self.served > 1:
            await asyncio.sleep(0.2)
        return web.Response(body=body, content_type="application/json")

    async def send_message(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        sent = json.loads(body)
        result = {"message_id": len(self.bodies), "date": 0, "chat": {"id": sent["chat_id"], "type": "private"},
                  "text": sent["text"]}
        return web.Response(body=json.dumps({"ok": True, "result": result}).encode(), content_type="application/json")


async def through_the_pipeline(client, api: FakeApi, url: str) -> tuple[list[dict], int]:
    """Poll and store the batch, then handle every lane entry as a worker does; (stored updates as the
    standard library reads them, updates handled)."""
    poller = Poller(PollLease(client, KEYS, "w", 2000), Intake(client, KEYS), url, TOKEN, LANES, 0)
    polling = asyncio.create_task(poller.run())
    while poller.updates_stored < len(updates()):
        await asyncio.sleep(0.05)
    poller.stop()
    await asyncio.wait_for(polling, 10)
    sender = Sender(BotApiClient(url, TOKEN), FloodLimiter(client, KEYS, Limits(enabled=False)),
                    OutboxJournal(client, KEYS))
    await sender.open()
    processor = Processor(echo_router(), Completion(client, KEYS), sender.send, ThreadPoolExecutor(2), Services(),
                          MemoryStates(), 3, lambda lane: True, retry_delay_s=0.01, deliver=sender.deliver)
    stored = []
    try:
        for lane in range(LANES):
            await client.xgroup_create(KEYS.lane(lane), GROUP, id="0", mkstream=True)
            for _, entries in await client.xreadgroup(GROUP, "w", {KEYS.lane(lane): ">"}) or []:
                for entry_id, fields in entries:
                    stored.append(json.loads(fields[b"update"]))
                    chat, data = decoded(fields)
                    await asyncio.wait_for(processor.process(Job(lane, (lane, chat), text(entry_id), fields, data)), 30)
    finally:
        await sender.close()
    return stored, processor.handled


def test_hostile_text_goes_through_intake_lanes_handler_and_sender_intact(redis_url, redis_client, port):
    api = FakeApi()

    async def scenario(client):
        app = web.Application()
        app.router.add_post(f"/bot{TOKEN}/getUpdates", api.get_updates)
        app.router.add_post(f"/bot{TOKEN}/sendMessage", api.send_message)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            return await through_the_pipeline(client, api, f"http://127.0.0.1:{port}")
        finally:
            await runner.cleanup()
    stored, handled = run(scenario, redis_url, timeout=60)
    texts = sorted(u["message"]["text"] for u in updates())
    assert handled == len(texts)
    # the lanes hold what Telegram sent, read the same by the standard library
    assert sorted(u["message"]["text"] for u in stored) == texts
    assert sorted(stored, key=lambda u: u["update_id"]) == updates()
    # every reply carries its text unchanged, markup included
    sent = [json.loads(body) for body in api.bodies]
    assert sorted(s["text"] for s in sent) == texts
    assert all(s["reply_markup"]["inline_keyboard"][0][0]["text"] == s["text"][:8] for s in sent)
    for update in updates():
        lane, update_id = lane_for(update, LANES), update["update_id"]
        assert redis_client.hexists(KEYS.done(lane, update_id), KEYS.bucket_field(update_id))   # completed
