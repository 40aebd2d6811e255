"""Async scenarios against the session Redis: `run(scenario, redis_url)` gives `scenario` an async client."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

# a Lua script that keeps Redis busy for ARGV[1] microseconds (a slow command, on Redis' own clock)
SLOW = """
local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > tonumber(ARGV[1])
return 'slow'
"""


def run(coro_fn, redis_url, timeout: float | None = None):
    """`timeout`: fail a scenario that hangs (a lost wake-up) instead of waiting for pytest's limit."""
    async def main():
        client = aioredis.from_url(redis_url)
        try:
            return await asyncio.wait_for(coro_fn(client), timeout)
        finally:
            await client.aclose()
    return asyncio.run(main())
