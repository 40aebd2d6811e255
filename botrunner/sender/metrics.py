"""Sender counters, kept in-process and mirrored into the worker's registry hash for `botrunner status`."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis

# only when the registry hash exists: a worker that left must not be re-created without a TTL
PUBLISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

PREFIX = "send_"


@dataclass
class SendMetrics:
    """Counters since the worker started."""

    sent: int = 0                 # calls Telegram accepted
    failed: int = 0               # final failures (4xx, or retries exhausted)
    retries: int = 0              # 5xx / network errors retried
    rate_limited_chat: int = 0    # 429s by the scope they froze
    rate_limited_group: int = 0
    rate_limited_global: int = 0
    blocked: int = 0              # 403 / chat not found: chat flagged
    skipped_blocked: int = 0      # not sent: the chat blocked the bot
    skipped_journal: int = 0      # not sent: already confirmed for this update (a redelivery)
    waited_ms: int = 0            # time spent waiting for the limiter

    def count_429(self, scope: str) -> None:
        setattr(self, f"rate_limited_{scope}", getattr(self, f"rate_limited_{scope}") + 1)

    def fields(self) -> dict[str, int]:
        return {PREFIX + name: value for name, value in asdict(self).items()}


class MetricsPublisher:
    """Writes one worker's counters into its registry hash (`send_*` fields)."""

    def __init__(self, client: aioredis.Redis, registry_key: str, metrics: SendMetrics) -> None:
        self.key = registry_key
        self.metrics = metrics
        self._publish = client.register_script(PUBLISH)

    async def publish(self) -> None:
        args: list[Any] = [x for pair in self.metrics.fields().items() for x in pair]
        await self._publish(keys=[self.key], args=args)


def totals(workers: list[dict[str, Any]]) -> dict[str, int]:
    """Sum the `send_*` fields of every registered worker (status reads Redis only)."""
    out = {name: 0 for name in SendMetrics().__dataclass_fields__}
    for worker in workers:
        for name in out:
            try:
                out[name] += int(worker.get(PREFIX + name, 0))
            except (TypeError, ValueError):
                pass
    return out
