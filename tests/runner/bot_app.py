"""A test bot: records every handled update in Redis so tests can check exactly-once and order.

TEST_RECORD_REDIS_URL names the Redis to record into:
  hash  handled:count   update_id -> times handled
  list  handled:<chat>  update_ids in the order they were handled
Commands: /start replies; /fail always raises; /flaky raises on its first attempt; /slow sleeps
SLOW_S seconds.
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


@router.on_worker_start
def connect(services) -> None:
    global record
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
