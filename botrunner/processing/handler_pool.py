"""The handler threads of one worker, with a deadline per handler.

Handlers are plain functions run in threads. Calls go on one shared queue that *drainer* threads
empty: a drainer runs queued calls one after another until the queue is empty, so under a burst a
call costs a queue append, not an executor hop and a thread wake-up each. Drainers are started as
calls wait (one per `BATCH` outstanding calls, never more than the pool's threads), and while calls
wait behind drainers that all run one call longer than STALL_S (a handler waiting on I/O), one
more is started each STALL_S: a slow handler holds the others up for about that long at most. One
timer per pool, not a timeout per call, does that check and the deadline.

A thread cannot be killed, so a handler that passes HANDLER_TIMEOUT_S is *abandoned*: its caller
gets HandlerTimeout (the update is dead-lettered, its chat moves on), its drainer takes no further
call, and the executor is replaced by a fresh one of the same size, so the hung thread no longer
takes a slot from the others (the old executor finishes what it runs and its idle threads exit).
Hung threads still cost memory: once as many are abandoned as the pool has threads, `exhausted`
is True and the worker asks the supervisor for a replacement.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from botrunner.errors import HandlerTimeout

T = TypeVar("T")
BATCH = 8              # outstanding calls per drainer before another is started
STALL_S = 0.05         # a call running longer than this is slow: calls queued behind it get another drainer


class _Call:
    """One queued handler call and the loop-side future its caller awaits."""

    __slots__ = ("fn", "args", "future", "started")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], future: asyncio.Future) -> None:
        self.fn, self.args, self.future = fn, args, future
        self.started = 0.0

    def settle(self, ok: bool, value: Any) -> None:
        """On the loop: hand the outcome to the caller (unless the deadline already answered it)."""
        if self.future.done():
            return
        if ok:
            self.future.set_result(value)
        else:
            self.future.set_exception(value)


class _Drainer:
    """One thread's run through the queue; `current` is the call it runs, `abandoned` set by the deadline."""

    __slots__ = ("current", "abandoned")

    def __init__(self) -> None:
        self.current: _Call | None = None
        self.abandoned = False


class HandlerPool:
    """Runs handler functions in threads; abandons and replaces the ones that hang."""

    def __init__(self, threads: int, timeout_s: float = 0.0, executor: ThreadPoolExecutor | None = None) -> None:
        self.threads = threads
        self.timeout_s = timeout_s            # 0: no deadline
        self.executor = executor or self._new_executor()
        self.busy = 0                         # handler calls queued or running (a full pool = every chat waits)
        self.abandoned = 0                    # hung threads left behind since the worker started
        self._queue: deque[_Call] = deque()
        self._drainers: set[_Drainer] = set()
        self._lock = threading.Lock()         # the queue and the drainers, shared with the threads
        self._timer: asyncio.TimerHandle | None = None

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
        loop = asyncio.get_running_loop()
        call = _Call(fn, args, loop.create_future())
        self.busy += 1
        try:
            with self._lock:
                self._queue.append(call)
                self._start_drainers(loop)
            self._arm(loop)
            return await call.future
        finally:
            self.busy -= 1

    def _start_drainers(self, loop: asyncio.AbstractEventLoop, at_least: int = 1) -> None:
        """(Under the lock.) One drainer per BATCH outstanding calls (`at_least` of them), at most `threads`."""
        outstanding = len(self._queue) + len(self._drainers)
        wanted = min(self.threads, max(at_least, -(-outstanding // BATCH)))
        for _ in range(wanted - len(self._drainers)):
            drainer = _Drainer()
            self._drainers.add(drainer)
            self.executor.submit(self._drain, drainer, loop)

    def _drain(self, drainer: _Drainer, loop: asyncio.AbstractEventLoop) -> None:
        """In a handler thread: run queued calls until the queue is empty (or this drainer is abandoned)."""
        while True:
            with self._lock:
                drainer.current = None
                if drainer.abandoned or not self._queue:
                    self._drainers.discard(drainer)
                    return
                call = drainer.current = self._queue.popleft()
                call.started = time.monotonic()
            try:
                ok, value = True, call.fn(*call.args)
            except BaseException as exc:       # handed to the caller, as run_in_executor would
                ok, value = False, exc
            loop.call_soon_threadsafe(call.settle, ok, value)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """The pool's one timer: every STALL_S while calls wait, else every timeout / 4 (at most 1 s)
        while calls run under a deadline; none when idle."""
        if self._timer is not None:
            return
        if self._queue:
            self._timer = loop.call_later(STALL_S, self._check, loop)
        elif self.timeout_s and self._drainers:
            self._timer = loop.call_later(min(1.0, self.timeout_s / 4), self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop: abandon drainers whose call passed the deadline; one more drainer when calls
        wait behind slow ones only."""
        self._timer = None
        now = time.monotonic()
        with self._lock:
            running = [(d, d.current) for d in self._drainers if d.current is not None]
            late = [d for d, call in running if self.timeout_s and not call.future.done()
                    and now - call.started > self.timeout_s]
            for drainer in late:
                self._abandon(drainer)
            slow = len(running) == len(self._drainers) and all(now - call.started > STALL_S for _, call in running)
            if self._queue and (late or slow):
                self._start_drainers(loop, at_least=len(self._drainers) + 1)   # on the fresh executor after an abandon
        self._arm(loop)

    def _abandon(self, drainer: _Drainer) -> None:
        """(Under the lock.) Answer the late call with HandlerTimeout and leave its thread behind."""
        drainer.abandoned = True
        self._drainers.discard(drainer)
        self.abandoned += 1
        call = drainer.current
        if call is not None:
            call.future.set_exception(HandlerTimeout(
                f"the handler did not return within HANDLER_TIMEOUT_S={self.timeout_s:g}s; its thread was abandoned"))
        old, self.executor = self.executor, self._new_executor()
        old.shutdown(wait=False)

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.threads, thread_name_prefix="handler")
