"""A test bot: records every handled update in Redis so tests can check exactly-once and order.

TEST_RECORD_REDIS_URL names the Redis to record into:
  hash  handled:count   update_id -> times handled
  list  handled:<chat>  update_ids in the order they were handled
  hash  handled:pid     update_id -> pid of the worker that handled it (last time)
Commands: /start replies; /fail always raises; /flaky raises on its first attempt; /slow sleeps
SLOW_S seconds; /bloat keeps BLOAT_MB of memory (its worker passes MAX_WORKER_MEMORY_MB).
TEST_FAIL_STARTUP=1 makes the start-up hook raise (a worker that cannot boot).
"""
from __future__ import annotations

import os
import time

import redis

from botrunner.bot.context import Context
from botrunner.bot.router import Router

router = Router()
record: redis.Redis | None = None
flaky_seen: set[int] = set()
ballast: list[bytes] = []


@router.on_worker_start
def connect(services) -> None:
    global record
    if os.environ.get("TEST_FAIL_STARTUP"):
        raise RuntimeError("the start-up hook cannot reach its database")
    record = redis.Redis.from_url(os.environ["TEST_RECORD_REDIS_URL"])
    services.provide("record", record)
    services.add_flush_hook(lambda: None)


@router.on_worker_stop
def disconnect(services) -> None:
    """After the drain: list the worker in `stopped` (tests check the stop hooks ran), then close."""
    services.record.rpush("stopped", os.getpid())
    services.record.close()


def remember(ctx: Context) -> None:
    with record.pipeline() as pipe:
        pipe.hincrby("handled:count", ctx.update_id, 1)
        pipe.rpush(f"handled:{ctx.chat_id}", ctx.update_id)
        pipe.hset("handled:pid", ctx.update_id, os.getpid())
        pipe.execute()


@router.command("start")
def start(ctx: Context) -> None:
    remember(ctx)
    ctx.reply(f"hi {ctx.update_id}")


@router.command("slow")
def slow(ctx: Context) -> None:
    time.sleep(float(os.environ.get("SLOW_S", "2")))
    remember(ctx)
    ctx.reply(f"slow {ctx.update_id}")


@router.command("bloat")
def bloat(ctx: Context) -> None:
    ballast.append(b"x" * (int(os.environ.get("BLOAT_MB", "256")) << 20))     # written, so it is resident
    remember(ctx)
    ctx.reply(f"bloated {ctx.update_id}")


@router.command("fail")
def fail(ctx: Context) -> None:
    raise RuntimeError("this handler always fails")


@router.command("flaky")
def flaky(ctx: Context) -> None:
    if ctx.update_id not in flaky_seen:
        flaky_seen.add(ctx.update_id)
        raise RuntimeError("first attempt fails")
    remember(ctx)
    ctx.reply(f"flaky {ctx.update_id}")


@router.default()
def anything(ctx: Context) -> None:
    remember(ctx)
