"""The worker's sender as seen from a thread (a bot's background job such as a broadcast).

The sender lives on the worker's event loop; `ThreadSender.send_bulk` schedules a batch of calls
there, marked as broadcasts (`_bulk=True`): they take only the global slots replies and
notifications leave free, so user traffic keeps priority however large the batch. A batch goes
through a BroadcastPacer: its slots are taken many at a time (one Redis round trip a tick).
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from botrunner.sender.broadcast_pacer import BroadcastPacer
from botrunner.sender.sender import BULK_FLAG

if TYPE_CHECKING:
    from botrunner.sender.sender import Sender


class ThreadSender:
    """`send_bulk(calls)` from any thread but the loop's: a future of one (outcome, detail) per call, in
    order. outcome is 'sent', 'blocked' or 'failed' (detail: the result, or the failure's reason; a
    RateLimited reason when 429s refused it: not delivered, it may be sent again later)."""

    def __init__(self, sender: Sender, loop: asyncio.AbstractEventLoop) -> None:
        self.sender = sender
        self.loop = loop
        self.pacer = BroadcastPacer(sender)

    def send_bulk(self, calls: Sequence[tuple[str, dict[str, Any]]],
                  paid: bool = False) -> Future[list[tuple[str, Any]]]:
        marked = [(method, self._bulk(params, paid)) for method, params in calls]
        return asyncio.run_coroutine_threadsafe(self.pacer.send(marked, paid), self.loop)

    @staticmethod
    def _bulk(params: dict[str, Any], paid: bool) -> dict[str, Any]:
        marked = {**params, BULK_FLAG: True}
        if paid:
            marked["allow_paid_broadcast"] = True
        return marked
