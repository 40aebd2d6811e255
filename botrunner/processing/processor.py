"""One update's life in a worker: skip if completed, count the attempt (with the journal read, one
round trip), check the update (botrunner.bot.raw_update; it is parsed only when read), run the
handler in the thread pool, make its writes durable, send its replies, store its staged conversation
state, then completion marker + XACK (with the last reply's journal entry when no state write comes
between them). A handler that raised leaves the conversation state untouched, so
its retry (or a redelivery after a crash before the state write) sees the state from before.

A handler that raises is retried in place (the chat waits, keeping its order) with backoff, up to
MAX_ATTEMPTS; then the update is dead-lettered. An update that cannot be parsed (by the check, or
when a handler reads `ctx.update`), or whose handler passes HANDLER_TIMEOUT_S, is dead-lettered at
once. Nor can a retry fix a deterministic error
(`DETERMINISTIC_ERRORS`: bad input reaching a handler, such as an id too large for the database):
what the handler and the router's error hooks queued (the hooks answer the user) is sent, and the
update is dead-lettered after that one attempt. After the handler the lane lease is checked
again (a pause past its TTL sends nothing), and the limiter, journal and completion scripts are fenced by
it; a failure while delivering (Redis, a cluster's slot map, anything after the handler returned)
retries from the kept outbox, never by re-running the handler.
Nothing here lets an exception escape to kill the worker.
"""
from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from loguru import logger

from botrunner import json_codec
from botrunner.backoff import delay_after
from botrunner.bot import raw_update
from botrunner.bot.context import Context, Services
from botrunner.bot.router import Router
from botrunner.bot.states import StateStore
from botrunner.errors import HandlerTimeout, LaneLost, Unparseable
from botrunner.lanes.chat_order import Job
from botrunner.lanes.leases import Fence
from botrunner.metrics import record
from botrunner.processing.completion import Begun, Completion
from botrunner.processing.handler_pool import HandlerPool
from botrunner.redis_replies import text
from botrunner.sender.journal import Delivery, update_user

RETRY_DELAY_CAP_S = 5.0
Call = tuple[str, dict[str, Any]]     # one queued Bot API call: (method, params)

#: Errors that a retry of the same update raises again: answered and dead-lettered, never retried.
DETERMINISTIC_ERRORS: tuple[type[Exception], ...] = (ValueError, OverflowError)


class Send(Protocol):
    """One Bot API call sent outside any journal (the sender's `send`)."""

    def __call__(self, method: str, params: dict[str, Any], /) -> Awaitable[Any]: ...


class Deliver(Protocol):
    """The sender as the processor sees it: send an update's outbox in order, each call journaled once."""

    def __call__(self, update_id: int, update: dict[str, Any], outbox: list[Call],
                 fence: Fence | None = None, delivery: Delivery | None = None, /) -> Awaitable[None]: ...


class Deterministic(Exception):
    """A handler raised one of DETERMINISTIC_ERRORS; `ctx` holds what it and the error hooks queued."""

    def __init__(self, error: Exception, ctx: Context) -> None:
        super().__init__(repr(error))
        self.error, self.ctx = error, ctx


def parse_entry(fields: dict[Any, Any], data: Any = None) -> tuple[int, str, dict[str, Any]]:
    """(update_id, raw json, update dict) of a lane entry; raises Unparseable. `data`: the update as the
    lane reader decoded it already (decoded here when None)."""
    try:
        update_id = int(fields[b"update_id"])
        raw = text(fields[b"update"])
        if data is None:
            data = json_codec.loads(raw)
    except (KeyError, ValueError, AttributeError) as exc:
        raise Unparseable(f"bad lane entry: {exc!r}") from None
    if not isinstance(data, dict):
        raise Unparseable("the update is not a JSON object")
    return update_id, raw, data


class Processor:
    """Handles lane entries for one worker."""

    def __init__(self, router: Router, completion: Completion, send: Send,
                 pool: HandlerPool | ThreadPoolExecutor, services: Services, states: StateStore, max_attempts: int,
                 lane_valid: Callable[[int], bool], retry_delay_s: float = 0.2,
                 deliver: Deliver | None = None,
                 fence_for: Callable[[int], Fence | None] = lambda lane: None) -> None:
        self.router = router
        self.completion = completion
        self.send = send
        self.pool = HandlerPool.wrap(pool)
        self.services = services
        self.states = states
        self.max_attempts = max_attempts
        self.lane_valid = lane_valid
        self.fence_for = fence_for                    # the lane lease the limiter, journal and completion check
        self.retry_delay_s = retry_delay_s
        self.handled = 0
        self.timeouts = 0
        self.deliver: Deliver = deliver or self._send_each     # the sender's journaled delivery, when there is one
        self.bot_username = ""                        # from getMe: "/cmd@otherbot" is not ours
        self.on_lapsed: Callable[[int], None] = lambda lane: None   # the lane reader hands such a lane back
        self.on_lost: Callable[[int], None] = lambda lane: None     # ... and drops a lane another worker owns
        self.on_given_up: Callable[[Job], None] = lambda job: None  # the reader keeps it in case Redis lost it
        self.on_user_flag: Callable[[int, bool], Awaitable[None]] | None = None   # the sender's blocked-bot hooks

    async def process(self, job: Job) -> None:
        """Handle one entry to completion, dead letter, or (lane lost) leave it pending."""
        if not self.lane_valid(job.lane):
            self.on_given_up(job)
            self.on_lapsed(job.lane)                  # skipped entries must not stay stranded under us
            return
        try:
            update_id, raw, data = parse_entry(job.fields, job.data)
        except Unparseable as exc:
            await self.completion.dead_letter(job.lane, job.entry_id, -1, repr(job.fields)[:4000], str(exc), 1)
            return
        user_id, kicked = update_user(data)
        begun = await self.completion.begin(job.lane, job.entry_id, update_id, user_id, kicked)   # one round trip
        if begun.attempt == 0:
            logger.info("Update {} was already handled (redelivered after a crash); acknowledging", update_id)
            await self.completion.skip(job.lane, job.entry_id)
            return
        if begun.flag_changed and user_id is not None and self.on_user_flag is not None:
            await self.on_user_flag(user_id, kicked)
        ctx = await self._run_handler(job, update_id, raw, data, begun)
        if ctx is not None:
            await self._finish(job, update_id, data, ctx, begun)

    async def _run_handler(self, job: Job, update_id: int, raw: str, data: dict[str, Any],
                           begun: Begun) -> Context | None:
        """The handler's context (outbox, staged state), retried in place on errors; None when
        dead-lettered or the lane lapsed."""
        attempt = begun.attempt
        while True:
            if attempt > self.max_attempts:  # earlier attempts died with their worker
                await self.completion.dead_letter(job.lane, job.entry_id, update_id, raw,
                                                  "gave up: the worker died during every attempt", attempt - 1)
                return None
            try:
                return await self.pool.run(self._handle, data)
            except (Unparseable, HandlerTimeout) as exc:
                if isinstance(exc, HandlerTimeout):
                    self.timeouts += 1
                    await self.completion.count_fault("handler_timeouts")
                await self.completion.dead_letter(job.lane, job.entry_id, update_id, raw, str(exc), attempt)
                return None
            except Deterministic as exc:
                await self.deliver(update_id, data, exc.ctx.outbox, self.fence_for(job.lane),   # the answer only
                                   self._delivery(begun, defer_last=False))
                await self.completion.dead_letter(job.lane, job.entry_id, update_id, raw, "not retried: "
                                                  + "".join(traceback.format_exception(exc.error)), attempt)
                return None
            except Exception as exc:
                if attempt >= self.max_attempts:
                    await self.completion.dead_letter(job.lane, job.entry_id, update_id, raw,
                                                      "".join(traceback.format_exception(exc)), attempt)
                    return None
                logger.warning("Handler failed on update {} (attempt {}/{}): {!r}; retrying", update_id, attempt,
                               self.max_attempts, exc)
                record.update_retried()
                await asyncio.sleep(delay_after(attempt, self.retry_delay_s, RETRY_DELAY_CAP_S))
                if not self.lane_valid(job.lane):
                    self.on_given_up(job)
                    self.on_lapsed(job.lane)
                    return None
                attempt = await self.completion.start_attempt(job.lane, job.entry_id)

    async def _finish(self, job: Job, update_id: int, data: dict[str, Any], ctx: Context, begun: Begun) -> None:
        """Send the outbox, store the staged state and complete, fenced by the lane lease; Redis errors
        retry from the kept outbox (confirmed calls are skipped by the journal, the state write is a SET).
        Without a state write between them, the last call is journaled by the completion script."""
        fence = self.fence_for(job.lane)
        delivery = self._delivery(begun, defer_last=not ctx.state_changed)
        while True:
            if not self.lane_valid(job.lane):     # the lease lapsed while the handler ran (a pause): hands off
                logger.warning("Lane {} lapsed while the handler of update {} ran; sending nothing, leaving it to "
                               "the lane's next owner", job.lane, update_id)
                self.on_given_up(job)
                self.on_lapsed(job.lane)
                return
            try:
                await self.deliver(update_id, data, ctx.outbox, fence, delivery)   # after the flush hooks
                await self._commit_state(ctx, update_id)      # with the outbox, before the marker
                last_call = delivery.last_call if delivery else None
                acked = await self.completion.complete(job.lane, job.entry_id, update_id, fence, last_call)
            except LaneLost as exc:
                logger.warning("Update {}: {}; its next owner finishes it (confirmed replies are not resent)",
                               update_id, exc)
                self.on_given_up(job)
                self.on_lost(job.lane)        # its queued updates are the new owner's: none runs here too
                return
            except Exception as exc:     # the handler ran: whatever failed after it, it never runs again
                # Redis down, a timeout, and what is no RedisError: a cluster client without a slot map
                # for the lane (redis-py's SlotNotCoveredError while a failover is re-read), a closed transport
                logger.warning("Delivering update {} failed ({!r}); retrying from the kept outbox in 1s",
                               update_id, exc)
                await asyncio.sleep(1.0)
                continue
            record.update_done(job.entry_id, ctx.route, acked)
            self.handled += 1
            return

    @staticmethod
    def _delivery(begun: Begun, defer_last: bool) -> Delivery | None:
        """The journal as begin read it, on a first attempt (nobody can have sent anything for this update).
        A redelivery (an earlier attempt counted, maybe by the lane's previous owner, whose last call may
        still be landing) reads the journal again right before sending (None), as before the fold."""
        return Delivery(set(begun.confirmed), defer_last) if begun.attempt == 1 else None

    async def _commit_state(self, ctx: Context, update_id: int) -> None:
        """Store the handler's staged conversation state; retried a few times, then logged (the replies
        are out, so the update completes: the user repeats the step). Nothing staged: no thread hop.
        The write queues for the handler threads like a handler (under a burst a queue append, not an
        executor hop each; under HANDLER_TIMEOUT_S too)."""
        if not ctx.state_changed:
            return
        for attempt in range(1, 4):
            try:
                await self.pool.run(ctx.commit_state)
                return
            except Exception as exc:
                logger.warning("Update {}: storing its conversation state failed (attempt {}/3): {!r}",
                               update_id, attempt, exc)
                await asyncio.sleep(delay_after(attempt, self.retry_delay_s, RETRY_DELAY_CAP_S))
        logger.error("Update {}: its conversation state change was lost", update_id)

    async def _send_each(self, update_id: int, data: dict[str, Any], outbox: list[Call],
                         fence: Fence | None = None, delivery: Delivery | None = None) -> None:
        for method, params in outbox:
            await self.send(method, params)

    def _handle(self, data: dict[str, Any]) -> Context:
        """In a handler thread: check the update (a parse only where needed), route, run the handler, flush
        its writes; returns the context
        (its outbox and staged conversation state are applied by `process`)."""
        # raises Unparseable (as does a handler's read of ctx.update that fails to parse: no retry, see
        # _run_handler); parses only the kinds it cannot check by shape
        update = raw_update.check(data)
        ctx = Context(data, update, self.services, self.states, self.bot_username)
        try:
            self.router.handle(ctx)
        except DETERMINISTIC_ERRORS as exc:
            self.services.flush()
            raise Deterministic(exc, ctx) from exc
        self.services.flush()
        return ctx
