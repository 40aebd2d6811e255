"""Script calls made in the same event-loop turn go to Redis in one pipeline (one round trip).

Under load a worker has dozens of updates in flight, each at some step of its life (begin, the
limiter's slot, completion); their script calls are independent. `ScriptBatcher.script(src)` gives a
callable like redis-py's `register_script` whose calls are queued and sent together at the end of
the loop turn: each script still runs atomically and alone in Redis, in the order it was called, and
its KEYS are declared by its caller as before; only the network round trip, the connection checkout
and the socket reads are shared (the request is packed by hiredis, in C, and split by node on a
cluster: botrunner.packed_pipeline). A failed batch (Redis down, a timeout) fails every call in it with
the same error, which each caller handles as it would its own. At most MAX_IN_FLIGHT pipelines are
out at once: calls made while they are wait for the first to come back and go together in the next
(under a burst the loop turns are short, and a pipeline per turn would be a socket write per few
calls). With batching off (`enabled=False`, tests that count round trips) every call is sent at once
on its own.
"""
from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Awaitable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from botrunner.packed_pipeline import send
from botrunner.redis_scripts import load_everywhere

Call = tuple[str, list[Any], list[Any], asyncio.Future]     # sha, keys, args, the caller's future
MAX_IN_FLIGHT = 2       # pipelines out at once; later calls wait for one of them (bigger pipelines)


async def both(first: Awaitable[Any], second: Awaitable[Any]) -> tuple[Any, Any]:
    """The results of two calls already queued (so already in one pipeline), awaited in turn: what
    asyncio.gather does for them without its gathering future and callbacks. When the first fails the
    second is cancelled (or its error marked as seen) before the first's error is raised."""
    try:
        result = await first
    except BaseException:
        if isinstance(second, asyncio.Future):
            if second.done() and not second.cancelled():
                second.exception()
            second.cancel()
        elif inspect.iscoroutine(second):       # an unbatched script call that never started
            second.close()
        raise
    return result, await second


class BatchedScript:
    """One Lua script whose calls go through the batcher; awaitable like redis-py's AsyncScript."""

    def __init__(self, batcher: ScriptBatcher, source: str) -> None:
        self.batcher = batcher
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: list[Any], args: list[Any]) -> asyncio.Future:
        return self.batcher.submit(self, list(keys), list(args))


class ScriptBatcher:
    """Collects script calls of one loop turn and sends them as one non-transactional pipeline."""

    def __init__(self, client: aioredis.Redis, enabled: bool = True) -> None:
        self.client = client
        self.enabled = enabled
        self.sources: dict[str, str] = {}
        self.queued: list[Call] = []
        self.in_flight: set[asyncio.Task] = set()     # the loop keeps only weak references to tasks
        self.batches = 0            # pipelines sent (calls / batches = how much was shared)
        self.calls = 0
        self.flush_due = False      # a _flush is scheduled for the end of this loop turn

    def script(self, source: str) -> BatchedScript:
        script = BatchedScript(self, source)
        self.sources[script.sha] = source
        return script

    def submit(self, script: BatchedScript, keys: list[Any], args: list[Any]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self.queued.append((script.sha, keys, args, future))
        if not self.enabled:
            self._flush()
        else:
            self._schedule(loop)
        return future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """A flush after every task runnable in this turn queued its calls, unless enough pipelines are out
        (then the first to come back schedules it)."""
        if self.queued and not self.flush_due and len(self.in_flight) < MAX_IN_FLIGHT:
            self.flush_due = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_due = False
        calls, self.queued = self.queued, []
        if calls:
            self.batches += 1
            self.calls += len(calls)
            task = asyncio.get_running_loop().create_task(self._send(calls))
            self.in_flight.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task) -> None:
        self.in_flight.discard(task)
        self._schedule(asyncio.get_running_loop())

    async def _send(self, calls: list[Call]) -> None:
        try:
            results = await self._pipeline(calls)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:                          # a restarted Redis forgot the scripts: load and run those again
                for sha in {calls[i][0] for i in missing}:    # every node of a cluster, replicas too
                    await load_everywhere(self.client, self.sources[sha])
                again = await self._pipeline([calls[i] for i in missing])
                for i, result in zip(missing, again):
                    results[i] = result
        except BaseException as exc:
            for *_, future in calls:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, future), result in zip(calls, results):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _pipeline(self, calls: list[Call]) -> list[Any]:
        return await send(self.client, [("EVALSHA", sha, len(keys), *keys, *args) for sha, keys, args, _ in calls])
