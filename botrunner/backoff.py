"""Capped exponential backoff: the one rule for every retry loop in botrunner.

The n-th consecutive failure waits `first * 2**(n-1)` seconds, never more than `cap`; with jitter
the wait is a uniform 50-100 % of that, so workers that failed together do not retry together.
A success resets the count (aiogram's polling habit). Callers that count attempts themselves
(Redis attempt counters, webhook deliveries) use `delay_after` directly.
"""
from __future__ import annotations

import random


def delay_after(failures: int, first: float, cap: float) -> float:
    """The wait after `failures` consecutive failures (1 -> `first`), doubling, at most `cap`."""
    if failures < 1:
        return 0.0
    return min(cap, first * 2 ** (failures - 1))


class Backoff:
    """A retry loop's failure count: `next_delay()` after each failure, `reset()` after a success."""

    def __init__(self, first: float = 0.5, cap: float = 30.0, jitter: bool = True) -> None:
        self.first, self.cap, self.jitter, self.failures = first, cap, jitter, 0

    def next_delay(self) -> float:
        """Count one more failure; the seconds to wait before the next try."""
        self.failures += 1
        delay = delay_after(self.failures, self.first, self.cap)
        return delay * random.uniform(0.5, 1.0) if self.jitter else delay

    def reset(self) -> None:
        self.failures = 0
