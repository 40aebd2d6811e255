"""getUpdates: offset confirmation, the held long poll, 409 for a second poll, poll statistics."""
from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from aiohttp import web

from botrunner.emulator.envelope import ApiError, bad_request, raw_ok_response
from botrunner.emulator.params import Params
from botrunner.emulator.state import BotState

TERMINATED = ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one bot "
                           "instance is running")
WEBHOOK_ACTIVE = ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use "
                               "deleteWebhook to delete the webhook first")


class LongPoll:
    """The server side of getUpdates for one token: at most one held request, plus statistics.

    Every call is recorded (start, end, offset, result count, outcome) so tests can prove that a
    runner never had two polls in flight: `max_concurrent` is the most calls seen at once.
    """

    def __init__(self, history: int) -> None:
        self.held: asyncio.Future[str] | None = None
        self.calls: deque[dict[str, Any]] = deque(maxlen=history)
        self.total = 0
        self.conflicts = 0
        self.in_flight = 0
        self.max_concurrent = 0

    def wake(self) -> None:
        """An update arrived: answer the held request now."""
        held, self.held = self.held, None
        if held is not None and not held.done():
            held.set_result("updates")

    def terminate(self) -> None:
        """A newer getUpdates arrived: the held one ends with 409."""
        held, self.held = self.held, None
        if held is not None and not held.done():
            held.set_result("conflict")

    def close(self) -> None:
        """Shutdown, reset or setWebhook: answer the held request with what is there (usually [])."""
        self.wake()

    def stats(self) -> dict[str, Any]:
        return {"total_calls": self.total, "conflicts": self.conflicts, "in_flight": self.in_flight,
                "max_concurrent": self.max_concurrent, "calls": list(self.calls)}


def _clamp(value: int, lo: int, hi: int) -> int:
    return lo if value < lo else hi if value > hi else value


def _batch_response(state: BotState, limit: int, record: dict[str, Any]) -> web.Response:
    batch = state.pending(limit)
    record["result_count"] = len(batch)
    if batch:
        record["last_update_id"] = batch[-1].update_id
    return raw_ok_response(b"[" + b",".join(u.payload for u in batch) + b"]")


async def get_updates(emulator: Any, state: BotState, params: Params) -> web.Response:
    """getUpdates(offset, limit, timeout, allowed_updates) with the real server's semantics."""
    poll: LongPoll = state.poll
    offset = params.lenient_integer("offset", 0)
    limit = _clamp(params.lenient_integer("limit", 100), 1, 100)
    timeout = _clamp(params.lenient_integer("timeout", 0), 0, 50)
    record = {"start": time.time(), "start_monotonic": time.monotonic(), "offset": offset, "limit": limit,
              "timeout": timeout, "result_count": 0, "outcome": "updates", "concurrent": poll.in_flight + 1}
    poll.total += 1
    poll.in_flight += 1
    poll.max_concurrent = max(poll.max_concurrent, poll.in_flight)
    poll.calls.append(record)
    try:
        return await _poll(state, poll, offset, limit, timeout, params, record)
    except ApiError as error:
        record["outcome"] = "conflict" if error is TERMINATED else f"error {error.code}"
        raise
    except asyncio.CancelledError:
        record["outcome"] = "disconnected"
        raise
    finally:
        poll.in_flight -= 1
        record["end"] = time.time()
        record["end_monotonic"] = time.monotonic()


async def _poll(state: BotState, poll: LongPoll, offset: int, limit: int, timeout: int, params: Params,
                record: dict[str, Any]) -> web.Response:
    if state.webhook is not None:
        raise WEBHOOK_ACTIVE
    allowed = params.json_field("allowed_updates", "can't parse allowed_updates JSON object")
    if allowed is not None:
        if not isinstance(allowed, list):
            raise bad_request("can't parse allowed_updates JSON object")
        state.allowed_updates = [str(kind) for kind in allowed] or None
    state.confirm(offset)
    poll.terminate()
    if state.updates or timeout == 0:
        record["outcome"] = "updates" if state.updates else "empty"
        return _batch_response(state, limit, record)
    loop = asyncio.get_running_loop()
    held = poll.held = loop.create_future()
    timer = loop.call_later(timeout, _time_out, held)
    try:
        outcome = await held
    finally:
        timer.cancel()
        if poll.held is held:
            poll.held = None
    record["outcome"] = outcome
    if outcome == "conflict":
        poll.conflicts += 1
        raise TERMINATED
    return _batch_response(state, limit, record)


def _time_out(held: asyncio.Future[str]) -> None:
    if not held.done():
        held.set_result("timeout")
