"""The chaos suite's bot: every reply carries its update_id, so the local Bot API server's log of sent
messages tells which updates were answered, how often, and in which order per chat.

/start replies at once; /slow sleeps SLOW_S first; /hang never returns (HANDLER_TIMEOUT_S ends it).
Nothing here touches Redis: the faults injected into Redis must not reach the bookkeeping.
"""
from __future__ import annotations

import os
import threading
import time

from botrunner.bot.context import Context
from botrunner.bot.router import Router

router = Router()
_never = threading.Event()


@router.command("start")
def start(ctx: Context) -> None:
    ctx.reply(str(ctx.update_id))


@router.command("slow")
def slow(ctx: Context) -> None:
    time.sleep(float(os.environ.get("SLOW_S", "0.3")))
    ctx.reply(str(ctx.update_id))


@router.command("hang")
def hang(ctx: Context) -> None:
    _never.wait()
