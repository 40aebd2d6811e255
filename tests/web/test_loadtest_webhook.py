"""`botrunner loadtest --webhook`: the guide's batches and bodies, 2xx-only success, reply times via the
local Bot API server, the CLI's --json and exit code. The bot is a tiny webhook receiver here."""
from __future__ import annotations

import asyncio
import json
import sys

import httpx
from aiohttp import web

from botrunner.emulator import running_emulator
from botrunner.tools import webhook_loadtest as wl
from tests.conftest import free_port
from tests.runner.conftest import ROOT

TOKEN = "123456:webhook-loadtest"
SECRET = "load-secret"


class Bot:
    """Answers each POST after replying to its chat through the Bot API server (when the secret matches)."""

    def __init__(self, api_url: str) -> None:
        self.api = httpx.AsyncClient(base_url=f"{api_url}/bot{TOKEN}/", timeout=10)
        self.posts: list[dict] = []
        self.active = self.max_active = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhook"

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
            return web.Response(status=401)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            update = await request.json()
            self.posts.append(update)
            await asyncio.sleep(0.02)
            await self.api.post("sendMessage", json={"chat_id": update["message"]["chat"]["id"], "text": "hi"})
            return web.Response(text="ok")
        finally:
            self.active -= 1

    async def __aenter__(self) -> "Bot":
        app = web.Application()
        app.router.add_post("/webhook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()
        await self.api.aclose()


def test_guide_batches_bodies_and_reply_times():
    async def go(api_url: str):
        async with Bot(api_url) as bot:
            run = await wl.run_webhook_load(bot.url, SECRET, requests=40, batches=4, interval=0.05,
                                            first_id=1_000_000, api_url=api_url, token=TOKEN)
            return bot, run
    with running_emulator(port=0) as emu:
        bot, run = asyncio.run(go(emu.url))
    assert sorted(u["update_id"] for u in bot.posts) == list(range(1_000_000, 1_000_040))
    first = min(bot.posts, key=lambda u: u["update_id"])["message"]
    assert (first["text"], first["from"]["id"], first["chat"], first["from"]["first_name"]) == (
        "/start", 1_000_000, {"id": 1_000_000, "type": "private"}, "LoadTest0")
    assert 2 <= bot.max_active <= 10                    # batches of 10 concurrent, one batch at a time
    posts, replies = run.post_summary(), run.reply_summary()
    assert (posts.sent, posts.replied, posts.failed) == (40, 40, 0) and dict(run.statuses) == {200: 40}
    assert (replies.sent, replies.replied, replies.failed) == (40, 40, 0)
    assert 0 < posts.p50_ms <= posts.p99_ms and replies.p50_ms > 0
    # the verdict on the latency targets depends on how busy the machine is (a test must not); every
    # POST answered and every reply seen is what this run has to show
    assert posts.targets()["success > 99 %"] and replies.targets()["success > 99 %"]


def test_a_repeated_run_over_the_same_chats_waits_once_per_reply(wait_requests):
    """The same ids twice against one server: the second run's waits skip the first run's replies on
    the server (`since`), one /wait per reply, not two."""
    waits = wait_requests

    async def go(api_url: str):
        async with Bot(api_url) as bot:
            counts = []
            for _ in range(2):
                waits.clear()
                run = await wl.run_webhook_load(bot.url, SECRET, requests=20, batches=2, interval=0.0,
                                                first_id=3_000_000, api_url=api_url, token=TOKEN)
                counts.append((run.reply_summary().replied, len(waits)))
            return counts
    with running_emulator(port=0) as emu:
        assert asyncio.run(go(emu.url)) == [(20, 20), (20, 20)]


def test_wrong_secret_fails_every_post_and_the_cli_says_fail():
    async def go(api_url: str):
        async with Bot(api_url) as bot:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "botrunner", "loadtest", "--webhook", bot.url, "--secret", "wrong",
                "--requests", "20", "--batches", "2", "--api-url", api_url, "--token", TOKEN, "--json",
                cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={"BOTRUNNER_ENV_FILE": "/nonexistent.env",
                                                               "PATH": "/usr/bin:/bin"})
            out, _ = await asyncio.wait_for(process.communicate(), 60)
            return bot, process.returncode, json.loads(out)
    with running_emulator(port=0) as emu:
        bot, code, result = asyncio.run(go(emu.url))
    assert code == 1 and bot.posts == []
    assert result["statuses"] == {"401": 20} and result["webhook"]["failed"] == 20 and not result["passed"]
    assert result["replies"]["failed"] == 20 and "wrong" not in json.dumps(result)   # the secret is never echoed
