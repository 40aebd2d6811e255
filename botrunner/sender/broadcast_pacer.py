"""A page of broadcast calls sent at the rate, their slots taken many at a time.

One pacer per page, on the worker's loop: every TICK_S (or when the next global slot is due, if
later) it asks BroadcastSlots for the slots due now for the next recipients, up to MAX_ASK, and
starts those sends at once; so one Redis round trip and one timer serve a tick's worth of sends
instead of each send asking (and re-asking, and sleeping) on its own. The sends in flight are
bounded by what the rate lets through in a tick plus those still waiting for their HTTP answer.

Invariant: a call is sent through `Sender.send_call` exactly as before (429s, retries, 403s handled
there), either with the slot this pacer took for it (`reserved=True`) or, when its chat was frozen
or busy, asking the limiter for it alone; a blocked chat is not sent to. Results come back in the
order of the calls.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botrunner.sender.broadcast_slots import BroadcastSlots
from botrunner.sender.sender import target_chat

if TYPE_CHECKING:
    from botrunner.sender.sender import Sender

TICK_S = 0.01       # how often a pacer asks for the slots due (within the catch-up, so none is lost)
MAX_ASK = 100       # recipients looked at per ask (one Lua call; also bounds a late tick's burst)

Outcome = tuple[str, Any]


class BroadcastPacer:
    """`await send(calls, paid)` -> one (outcome, detail) per call, in order."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.slots = BroadcastSlots(sender.limiter)

    async def send(self, calls: Sequence[tuple[str, dict[str, Any]]], paid: bool = False) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(calls)
        tasks: list[asyncio.Task[None]] = []
        batchable: deque[int] = deque()
        for i, (_, params) in enumerate(calls):
            chat = target_chat(params)
            if isinstance(chat, int) and chat > 0:       # a user's private chat: no group bucket
                batchable.append(i)
            else:
                tasks.append(self._start(calls, i, results, reserved=False))
        while batchable:
            ask = [batchable.popleft() for _ in range(min(MAX_ASK, len(batchable)))]
            statuses, wait = await self.slots.take([int(calls[i][1]["chat_id"]) for i in ask], paid)
            for i, status in zip(ask, statuses):
                if status < 0:
                    self.sender.metrics.skipped_blocked += 1
                    results[i] = ("blocked", None)
                else:
                    tasks.append(self._start(calls, i, results, reserved=status == 1))
            batchable.extendleft(reversed(ask[len(statuses):]))     # not looked at: first next time
            if batchable and len(statuses) < len(ask):               # stopped short: no slot due now
                await asyncio.sleep(max(TICK_S, wait))
        if tasks:
            await asyncio.gather(*tasks)
        return [r if r is not None else ("failed", "not sent") for r in results]

    def _start(self, calls: Sequence[tuple[str, dict[str, Any]]], i: int, results: list[Outcome | None],
               reserved: bool) -> asyncio.Task[None]:
        async def one() -> None:
            method, params = calls[i]
            results[i] = await self.sender.send_call(method, params, reserved=reserved)
        return asyncio.get_running_loop().create_task(one())
