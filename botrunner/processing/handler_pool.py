"""The handler threads of one worker, with a deadline per handler.

Handlers are plain functions run in threads. A thread cannot be killed, so a handler that passes
HANDLER_TIMEOUT_S is *abandoned*: its caller gets HandlerTimeout at once (the update is
dead-lettered, its chat moves on), and the executor is replaced by a fresh one of the same size,
so the hung thread no longer takes a slot from the others (the old executor finishes what it runs
and its idle threads exit). Hung threads still cost memory: once as many are abandoned as the pool
has threads, `exhausted` is True and the worker asks the supervisor for a replacement.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from botrunner.errors import HandlerTimeout

T = TypeVar("T")


class HandlerPool:
    """Runs handler functions in threads; abandons and replaces the ones that hang."""

    def __init__(self, threads: int, timeout_s: float = 0.0, executor: ThreadPoolExecutor | None = None) -> None:
        self.threads = threads
        self.timeout_s = timeout_s            # 0: no deadline
        self.executor = executor or self._new_executor()
        self.busy = 0                         # handlers running now (a full pool = every chat waits)
        self.abandoned = 0                    # hung threads left behind since the worker started

    @classmethod
    def wrap(cls, pool: "HandlerPool | ThreadPoolExecutor") -> "HandlerPool":
        """A HandlerPool as is; a bare executor without a deadline (handler unit harnesses)."""
        return pool if isinstance(pool, HandlerPool) else cls(pool._max_workers, 0.0, pool)

    @property
    def exhausted(self) -> bool:
        """As many hung threads as the pool has: time for the supervisor to replace this worker."""
        return self.abandoned >= self.threads

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in a handler thread; HandlerTimeout when it passes the deadline."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        self.busy += 1
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s or None)
        except asyncio.TimeoutError:
            self._abandon()
            raise HandlerTimeout(f"the handler did not return within HANDLER_TIMEOUT_S={self.timeout_s:g}s; "
                                 "its thread was abandoned") from None
        finally:
            self.busy -= 1

    def _abandon(self) -> None:
        self.abandoned += 1
        old, self.executor = self.executor, self._new_executor()
        old.shutdown(wait=False)

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.threads, thread_name_prefix="handler")
