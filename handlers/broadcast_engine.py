"""Runs broadcasts: in every worker a thread looks for running broadcasts; for each, the worker that
wins its Redis lease owns it and walks its segment a page at a time until it is done, paused,
cancelled or the lease is lost (a dead owner's lease expires and another worker takes over).

Invariant (with storage.broadcast_records): a recipient's row is written pending before its send
and is never handed out again, so nobody gets a broadcast twice, whatever crashes. A new owner
first settles the rows a previous owner left pending (skipped: their send is in doubt).
A recipient the sender gave up on after MAX_429 429s in a row got nothing, so it is deferred (its
row waits as `retry` until the last retry_after has passed) and sent again on a later pass, up to
MAX_PASSES passes; the broadcast is done only when the segment is walked and no row waits.

It lives with the bot (not in botrunner) because segments are the airdrop bot's users; from the
runner it uses only the worker's sender (`services.sender`, a ThreadSender), whose broadcast class
keeps replies and notifications ahead of it, follows 429 retry_after and flags 403s.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from loguru import logger

from botrunner.lease import RELEASE_IF_HELD
from botrunner.metrics import record
from botrunner.sender.sender import RateLimited
from storage.broadcast_records import Broadcast

MAX_PAGE, MIN_PAGE = 200, 5
PIPELINE = 2           # pages in flight: the next page is claimed and queued while one is still sending
MAX_PASSES = 5         # passes of a recipient refused by 429s each time; then it counts failed
RETRY_MIN_S = 1.0      # a deferred recipient waits at least this long (and at least its retry_after)

RATE_WINDOW_S = 10.0   # the achieved rate (a metric) is measured over the pages of the last 10 s

Page = tuple[list[tuple[int, int]], Future[list[tuple[str, Any]]]]     # [(user id, tries)], the sends

# KEYS: the lease.  ARGV: our token, ttl ms.  Renew only while we hold it.
_RENEW_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def page_size(global_rate: float) -> int:
    """About half a second of sends per page: pause/cancel act within two pages (PIPELINE), and
    two pages of concurrent sends keep the global budget busy."""
    return max(MIN_PAGE, min(MAX_PAGE, int(global_rate / 2)))


def outcome_row(user_id: int, outcome: str, detail: Any) -> tuple[int, str, str]:
    """(user_id, status, reason) for BroadcastRepository.finish from the sender's (outcome, detail)."""
    if outcome == "sent":
        return user_id, "sent", ""
    if outcome == "blocked":
        return user_id, "blocked", ""
    return user_id, "failed", str(detail or "failed")


def deferral(user_id: int, tries: int, outcome: str, detail: Any, at: float) -> tuple[int, float, str] | None:
    """(user_id, not_before, reason) for BroadcastRepository.defer when 429s refused this send and it has
    passes left; None when the outcome is final."""
    if outcome != "failed" or not isinstance(detail, RateLimited) or tries + 1 >= MAX_PASSES:
        return None
    return user_id, at + max(RETRY_MIN_S, detail.retry_after), f"{detail} (pass {tries + 1} of {MAX_PASSES})"


class RateMeter:
    """Recipients per second over the last RATE_WINDOW_S: `add(n)` as pages finish, `rate()` to read."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        self.total = 0

    def add(self, count: int) -> float:
        now = time.monotonic()
        self.total += count
        self.samples.append((now, self.total))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW_S:
            self.samples.popleft()
        return self.rate()

    def rate(self) -> float:
        (first, before), (last, after) = self.samples[0], self.samples[-1]
        return (after - before) / (last - first) if last > first else 0.0


class BroadcastEngine:
    """`start()`/`stop()` the checking thread; `run_once()` offers every running broadcast a turn."""

    def __init__(self, rt: Any, sender: Callable[[], Any]) -> None:
        self.rt, self.sender = rt, sender
        self.check_s = rt.settings.broadcast_check_s
        self.lease_ms = rt.settings.broadcast_lease_ttl_ms
        self.token = f"{os.getpid()}:{secrets.token_hex(4)}"     # the pid tells operators (and tests) who owns it
        self.page = page_size(rt.settings.send_global_rate)
        self.paid = rt.settings.send_paid_broadcast_rate > 0
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.meter = RateMeter()
        self.announced: set[str] = set()

    def lease_key(self, broadcast_id: str) -> str:
        return self.rt.key("broadcast", broadcast_id, "lease")

    def run_once(self) -> int:
        """Own and run each running broadcast whose lease is free; returns how many this call ran."""
        sender = self.sender()
        if sender is None:                      # the worker's sender is not up yet
            return 0
        ran = 0
        for broadcast in self.rt.store.broadcasts.history(limit=50, status="running"):
            if self.stopped.is_set():
                break
            key = self.lease_key(broadcast.id)
            if not self.rt.redis.set(key, self.token, nx=True, px=self.lease_ms):
                continue
            try:
                self._own(broadcast, sender, key)
                ran += 1
            finally:
                self.rt.redis.eval(RELEASE_IF_HELD, 1, key, self.token)
        return ran

    def _own(self, broadcast: Broadcast, sender: Any, key: str) -> None:
        repo = self.rt.store.broadcasts
        doubtful = repo.settle_in_doubt(broadcast.id)
        record.broadcast_recipients("skipped", doubtful)
        if doubtful or broadcast.id not in self.announced:   # not again each check while retries wait
            self.announced.add(broadcast.id)
            logger.info("Broadcast {} owned by this worker (cursor {}); {} recipient(s) in doubt skipped",
                        broadcast.id, broadcast.cursor, doubtful)
        inflight: deque[Page] = deque()
        self.meter = RateMeter()
        record.broadcast_owned(1)
        try:
            while self._claim_more(broadcast, sender, inflight, key):
                if len(inflight) >= PIPELINE and not self._settle_oldest(broadcast.id, inflight, key):
                    return
        finally:
            while inflight:                  # stopping for any reason: record what was sent
                self._settle_oldest(broadcast.id, inflight, "")
            record.broadcast_owned(-1)
            record.broadcast_rate(0.0)

    def _claim_more(self, broadcast: Broadcast, sender: Any, inflight: deque[Page], key: str) -> bool:
        """Claim and hand the sender the next page (deferred recipients that are due first); False when
        the broadcast stops here (not running any more, the lease lost, or nothing left before the next
        check: then it is marked done once the last pages are in and no recipient waits)."""
        repo = self.rt.store.broadcasts
        current = repo.get(broadcast.id)
        if self.stopped.is_set() or current is None or current.status != "running":
            return False
        rows = repo.claim_retries(broadcast.id, self.page) if current.retrying else []
        if not rows:
            ids = repo.claim_page(broadcast.id, self.page)
            if ids is None:
                return self._walked(broadcast.id, inflight, key)
            rows = [(i, 0) for i in ids]
        if rows:
            calls = [current.message.call(i) for i, _ in rows]
            inflight.append((rows, sender.send_bulk(calls, paid=self.paid)))
        return True

    def _walked(self, broadcast_id: str, inflight: deque[Page], key: str) -> bool:
        """The segment is walked: wait for the pages in flight, then for deferred recipients due before
        the next check (True: claim them), or mark the broadcast done when none waits."""
        repo = self.rt.store.broadcasts
        while inflight:                      # keeping the lease: a slow last page is not left in doubt
            if not self._settle_oldest(broadcast_id, inflight, key):
                return False
        due = repo.next_retry(broadcast_id)
        if due is not None:
            wait = due - time.time()
            if wait > self.check_s:          # free this worker (and the lease) until then
                return False
            return not self.stopped.wait(max(0.0, wait)) and self._renew(key)
        finished = repo.set_status(broadcast_id, "done")
        if finished is not None:
            logger.info("Broadcast {} done: {} sent, {} blocked, {} failed, {} skipped", broadcast_id,
                        finished.sent, finished.blocked, finished.failed, finished.skipped)
        return False

    def _settle_oldest(self, broadcast_id: str, inflight: deque[Page], key: str) -> bool:
        """Wait for the oldest page, record its outcomes (deferring those 429s refused); False when the
        lease was lost meanwhile."""
        rows, future = inflight.popleft()
        held = True
        while True:
            try:
                results = future.result(timeout=self.lease_ms / 3000)
                break
            except FutureTimeout:                # a long 429 freeze: keep the lease while we wait
                held = held and (not key or self._renew(key))
        at = time.time()
        final, later = [], []
        for (user_id, tries), (outcome, detail) in zip(rows, results):
            deferred = deferral(user_id, tries, outcome, detail, at)
            if deferred is None:
                final.append(outcome_row(user_id, outcome, detail))
            else:
                later.append(deferred)
        repo = self.rt.store.broadcasts
        repo.finish(broadcast_id, final)
        if later:
            repo.defer(broadcast_id, later)
            logger.info("Broadcast {}: {} recipient(s) refused by 429s wait for a later pass", broadcast_id, len(later))
        self._count(final, len(later))
        return held and (not key or self._renew(key))

    def _count(self, final: list[tuple[int, str, str]], retried: int) -> None:
        """Metrics: recipients by outcome, and the rate this broadcast achieves."""
        for outcome in ("sent", "blocked", "failed"):
            record.broadcast_recipients(outcome, sum(1 for _, status, _ in final if status == outcome))
        record.broadcast_recipients("retried", retried)
        record.broadcast_rate(self.meter.add(len(final)))

    def _renew(self, key: str) -> bool:
        if self.rt.redis.eval(_RENEW_IF_HELD, 1, key, self.token, self.lease_ms):
            return True
        logger.warning("Lost the lease {}; another worker continues the broadcast", key)
        return False

    def start(self) -> BroadcastEngine:
        self.thread = threading.Thread(target=self._loop, name="broadcasts", daemon=True)
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stopped.wait(self.check_s):
            try:
                self.run_once()
            except Exception as exc:          # storage or Redis away: the next check tries again
                logger.warning("Broadcast check failed: {!r}; trying again in {:.0f} s", exc, self.check_s)

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
