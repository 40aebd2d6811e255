"""Captcha pictures rendered ahead: a bounded per-worker pool that one background thread keeps full.

Invariant: every picture is handed out at most once. `take()` pops it under the lock and nothing
ever puts one back; its code was drawn with `secrets` for that picture alone, and neither leaves
this worker's memory except as the one photo sent to one user (and the code kept in that user's
conversation data). So no two challenges, of one account or of a hundred, show the same picture:
a farmer cannot solve a picture once and reuse the answer, nor spot a repeat by its bytes or its
Telegram file_id. When the pool is empty the picture is rendered in the caller's thread: the pool
changes when the work is done (ahead, between bursts), never what a user is shown or must answer.

The filler renders only in quiet time: after IDLE_S without a picture taken, and only while the rest
of the worker is idle too (its other threads used less than BUSY_SHARE of a core over the last
CHECK_S; it renders for at most BATCH_S between two checks). During a burst of new users it would
otherwise compete with the handlers, the sender and the Bot API server for the same cores (and the
handlers for the same GIL; a picture costs as much ahead as on demand). IDLE_S is a second, not a
fraction of one, because the handlers take a burst's last pictures before the sender has sent its
last replies, and a worker waiting on the Bot API server for them uses little CPU, so its CPU alone
does not tell. The CPU check covers busy time without pictures (returning users, broadcasts). A
burst drains the pool, what the pool cannot cover is rendered on demand, and the pool fills again
once the burst is over.
"""
from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from loguru import logger

Challenge = tuple[str, bytes]          # (code, the picture's bytes)
IDLE_S = 1.0                           # no picture taken for this long: quiet enough to render ahead,
BUSY_SHARE = 0.10                      # if the worker's other threads used less than this share of a core
CHECK_S = 0.05                         # over this long (the filler sleeping meanwhile)
BATCH_S = 0.2                          # then render ahead for at most this long before checking again


class CaptchaPool:
    """Up to `size` (code, picture) pairs rendered ahead; `size` 0 renders every picture when asked."""

    def __init__(self, render: Callable[[str], bytes], make_code: Callable[[], str], size: int,
                 idle_s: float = IDLE_S, cpu_clock: Callable[[], float] = time.process_time) -> None:
        self.render = render
        self.make_code = make_code
        self.size = max(0, size)
        self.idle_s = idle_s
        self.cpu_clock = cpu_clock                  # CPU seconds of the whole worker process
        self._taken_at = -idle_s                    # monotonic time of the last take()
        self.served_ready = 0           # pictures handed out from the pool
        self.served_inline = 0          # pictures rendered on demand because the pool was empty
        self._ready: collections.deque[Challenge] = collections.deque()
        self._changed = threading.Condition(threading.RLock())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_on_take = False

    def __len__(self) -> int:
        return len(self._ready)

    def take(self) -> Challenge:
        """A picture nobody has seen, with its code: from the pool, else rendered now."""
        with self._changed:                           # an RLock: start() may take it again
            if self._start_on_take:
                self._start_on_take = False
                self.start()
            self._taken_at = time.monotonic()
            item = self._ready.popleft() if self._ready else None
            if item is not None:
                self.served_ready += 1
            else:
                self.served_inline += 1
            self._changed.notify()                    # the filler: there is room again
        return item if item is not None else self._fresh()

    def fill_one(self) -> bool:
        """Render one picture into the pool if it has room; False when it is full."""
        if len(self._ready) >= self.size:
            return False
        item = self._fresh()                          # rendered outside the lock: takers never wait on it
        with self._changed:
            self._ready.append(item)
        return True

    def start(self, lazily: bool = False) -> CaptchaPool:
        """Keep the pool full from a daemon thread (a worker's start hook calls this after fork);
        `lazily`: from the first `take()` on (the captcha is off now but an admin may switch it on)."""
        with self._changed:
            if lazily:
                self._start_on_take = True
            elif self.size and self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="captcha-pool", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _fresh(self) -> Challenge:
        code = self.make_code()
        return code, self.render(code)

    def _quiet_for(self) -> float:
        """Seconds still to wait before rendering ahead (0: quiet now)."""
        return max(0.0, self._taken_at + self.idle_s - time.monotonic())

    def _worker_idle(self) -> bool:
        """Sleep CHECK_S and tell whether the rest of the worker used less than BUSY_SHARE of a core."""
        before = self.cpu_clock()
        self._stop.wait(CHECK_S)
        return self.cpu_clock() - before < BUSY_SHARE * CHECK_S

    def _fill_batch(self) -> None:
        """Render ahead for up to BATCH_S, while the pool has room and nobody takes a picture."""
        deadline = time.monotonic() + BATCH_S
        while not self._stop.is_set() and not self._quiet_for() and self.fill_one():
            if time.monotonic() >= deadline:
                return

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._changed:
                while len(self._ready) >= self.size and not self._stop.is_set():
                    self._changed.wait()
            wait = self._quiet_for()
            if wait:
                self._stop.wait(wait)           # a burst is being served: leave the cores to it
                continue
            if not self._worker_idle() or self._stop.is_set():
                continue                        # its replies are still being sent, or it is stopping
            try:
                self._fill_batch()
            except Exception:                         # never let a bad render end the filler
                logger.exception("Rendering a captcha picture ahead failed; pictures are rendered when asked")
                self._stop.wait(5)
