"""Batched writes: last_active touches and referral credits, flushed as bulk writes.

A batch is flushed when it holds REFERRAL_BATCH_SIZE items, every REFERRAL_BATCH_INTERVAL_MS (the
timer thread), or when someone calls `flush()`. The worker acknowledges an update only after the
batch holding its writes is flushed (`flush()`, or `wait(seq)` on the sequence number an add
returned), so a crash loses nothing: unacknowledged updates are handled again and both kinds of
write are idempotent. With batching off every add writes through at once.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from loguru import logger

from storage.base import Store

OnPaid = Callable[[bool], None]


class WriteBatcher:
    """Per-worker write buffer in front of `store.users.touch_many` and `store.referrals.credit_bonuses`."""

    def __init__(self, store: Store, enabled: bool = True, size: int = 50, interval_ms: int = 100) -> None:
        self.store = store
        self.enabled = enabled
        self.size = size
        self.interval_s = interval_ms / 1000
        self._touches: dict[int, float] = {}
        self._credits: list[tuple[int, int, int, OnPaid | None]] = []
        self._lock = threading.Lock()          # guards the buffers and sequence numbers
        self._flush_lock = threading.Lock()    # one flush at a time, in order
        self._flushed_cond = threading.Condition()
        self._queued_seq = 0
        self._flushed_seq = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        return len(self._touches) + len(self._credits)

    def touch(self, user_id: int, at: float | None = None) -> int:
        """Record activity; returns the sequence number to `wait` for (0: already written)."""
        at = at or time.time()
        if not self.enabled:
            self.store.users.touch_many({user_id: at})
            return 0
        with self._lock:
            self._touches[user_id] = max(at, self._touches.get(user_id, 0.0))
            seq = self._queued()
        self._flush_if_full()
        return seq

    def credit_referral(self, referred_id: int, referrer_bonus: int, welcome_bonus: int,
                        on_paid: OnPaid | None = None) -> int:
        """Pay a referral bonus (exactly once); `on_paid(paid)` runs after it is written."""
        if not self.enabled:
            paid = self.store.referrals.credit_bonus(referred_id, referrer_bonus, welcome_bonus)
            if on_paid:
                on_paid(paid)
            return 0
        with self._lock:
            self._credits.append((referred_id, referrer_bonus, welcome_bonus, on_paid))
            seq = self._queued()
        self._flush_if_full()
        return seq

    def _queued(self) -> int:
        self._queued_seq += 1
        return self._queued_seq

    def _flush_if_full(self) -> None:
        if self.pending < self.size:
            return
        if self._thread is not None:
            self._wake.set()   # the timer thread writes it; handler threads do not wait on the database
        else:
            self.flush()

    def flush(self) -> int:
        """Write everything queued so far; returns how many items were written. On a database error
        the items go back into the buffer and the error propagates (the update is not acknowledged)."""
        with self._flush_lock:
            with self._lock:
                touches, credits, upto = self._touches, self._credits, self._queued_seq
                self._touches, self._credits = {}, []
            try:
                self.store.users.touch_many(touches)
                results = self.store.referrals.credit_bonuses([c[:3] for c in credits]) if credits else []
            except Exception:
                self._requeue(touches, credits)
                raise
            with self._flushed_cond:
                self._flushed_seq = max(self._flushed_seq, upto)
                self._flushed_cond.notify_all()
        for (_, _, _, on_paid), paid in zip(credits, results):
            if on_paid:
                on_paid(paid)
        return len(touches) + len(credits)

    def _requeue(self, touches: dict[int, float], credits: list) -> None:
        with self._lock:
            for user_id, at in touches.items():
                self._touches[user_id] = max(at, self._touches.get(user_id, 0.0))
            self._credits[:0] = credits

    def wait(self, seq: int, timeout: float | None = None) -> bool:
        """Block until everything up to `seq` is written; False on timeout."""
        with self._flushed_cond:
            return self._flushed_cond.wait_for(lambda: self._flushed_seq >= seq, timeout)

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception as exc:   # the timer retries at the next tick; waiters keep waiting
            logger.warning("Write batch flush failed ({}: {}); will retry", type(exc).__name__, exc)

    # ---- timer thread ----
    def start(self) -> "WriteBatcher":
        """Flush every interval in a background thread (only when batching is on)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="write-batcher", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self.pending:
                self._flush_quietly()

    def stop(self) -> None:
        """Stop the timer and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self.pending:
            self.flush()
