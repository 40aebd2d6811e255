"""Async scenarios against the session Redis: `run(scenario, redis_url)` gives `scenario` an async client."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis


def run(coro_fn, redis_url):
    async def main():
        client = aioredis.from_url(redis_url)
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()
    return asyncio.run(main())
