"""A test bot for the sender: replies, several replies per update, uploads, and a blocked-bot hook.

/start -> "start <update_id>"; /multi -> "m1", "m2", "m3"; /alert -> "alert <user>" into chat ALERT_CHAT
(every worker writes to that one chat) and "ok" to the user; /poke <chat> -> "poke" into that chat;
/echo <text> -> <text>, with a button labelled with its first 8 characters; anything else -> "other <update_id>".
The on_blocked_bot hook records (user, blocked) in the Redis list `blocked:events` (TEST_RECORD_REDIS_URL).
"""
from __future__ import annotations

import os

import redis

from botrunner.bot.context import Context
from botrunner.bot.router import Router

ALERT_CHAT = 4242
router = Router()
record: redis.Redis | None = None


@router.on_worker_start
def connect(services) -> None:
    global record
    record = redis.Redis.from_url(os.environ["TEST_RECORD_REDIS_URL"])
    services.on_blocked_bot(lambda user_id, blocked: record.rpush("blocked:events", f"{user_id}:{int(blocked)}"))


@router.command("start")
def start(ctx: Context) -> None:
    ctx.reply(f"start {ctx.update_id}")


@router.command("multi")
def multi(ctx: Context) -> None:
    for n in (1, 2, 3):
        ctx.reply(f"m{n}")


@router.command("alert")
def alert(ctx: Context) -> None:
    ctx.send(ALERT_CHAT, f"alert {ctx.user_id}")
    ctx.reply("ok")


@router.command("poke")
def poke(ctx: Context) -> None:
    ctx.send(int(ctx.args[0]), "poke")


@router.command("echo")
def echo(ctx: Context) -> None:
    said = (ctx.text or "").partition(" ")[2]
    ctx.reply(said, reply_markup={"inline_keyboard": [[{"text": said[:8], "callback_data": "echo"}]]})


@router.default()
def other(ctx: Context) -> None:
    if ctx.chat_id is not None:
        ctx.reply(f"other {ctx.update_id}")
