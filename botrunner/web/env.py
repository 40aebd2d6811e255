"""What a web feature receives when it is mounted: the worker's settings, clients and identity.

A feature never builds its own Redis pool: it uses the worker's (created after fork, like every
client of a worker). Nothing here blocks: features run on the worker's event loop next to the
pipeline, so a handler that must do synchronous work hands it to a thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from botrunner.config.settings import Settings
    from botrunner.redis_keys import Keys


@dataclass(frozen=True)
class WebEnv:
    """The worker's context for web features."""

    settings: Settings
    redis: aioredis.Redis        # the worker's async pool on REDIS_DEDUP_DB (the pipeline's database)
    keys: Keys                   # the bot's Redis key layout
    worker_id: str               # "<host>:<pid>:<nonce>", as in the worker registry
