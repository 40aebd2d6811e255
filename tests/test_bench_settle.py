"""The comparison's pause between phases (benchmarks.systems.settle): it lasts while the system works
(a captcha pool refilling) and ends once the system is idle, never later than its bound."""
from __future__ import annotations

import time

from benchmarks.systems import QUIET_WINDOWS, SETTLE_WINDOW_S, idle_share, settle
from handlers.captcha_pool import IDLE_S


def cpu_clock(busy_until: float):
    """A system that burns a full core until `busy_until` (monotonic), then idles."""
    def cpu_seconds() -> float:
        return min(time.monotonic(), busy_until)
    return cpu_seconds


def test_it_waits_for_the_work_to_end_then_the_quiet_windows():
    waited = settle(cpu_clock(time.monotonic() + 0.3), max_s=30, window_s=0.05)
    assert 0.3 + QUIET_WINDOWS * 0.05 <= waited < 30


def test_work_that_starts_after_a_quiet_pause_is_waited_for():
    """The captcha pool starts rendering only after IDLE_S without a picture taken (then checks the
    worker's CPU): a pause that ended before that would start the next phase with the pool empty.
    Played five times faster than real time."""
    scale, began = 5, time.monotonic()
    quiet_first, busy = 1.2 * IDLE_S / scale, 0.3

    def cpu_seconds() -> float:
        return max(0.0, min(time.monotonic(), began + quiet_first + busy) - (began + quiet_first))
    waited = settle(cpu_seconds, max_s=30, window_s=SETTLE_WINDOW_S / scale)
    assert waited >= quiet_first + busy + QUIET_WINDOWS * SETTLE_WINDOW_S / scale - 0.05


def test_it_is_bounded_and_zero_does_not_wait():
    assert 0.3 <= settle(cpu_clock(time.monotonic() + 60), max_s=0.3, window_s=0.05) < 5
    assert settle(cpu_clock(time.monotonic() + 60), max_s=0) < 0.01


def idling_at(share: float):
    """A system that burns `share` of a core for ever (a peer's timers and polling at rest)."""
    started = time.monotonic()
    return lambda: share * (time.monotonic() - started)


def test_a_system_idling_above_the_threshold_settles_at_its_own_idle_share():
    cpu_seconds = idling_at(0.14)
    share = idle_share(cpu_seconds, window_s=0.2)
    assert 0.12 < share < 0.16
    assert settle(cpu_seconds, max_s=5, window_s=0.05) >= 5               # never "idle" by the fixed threshold
    assert settle(cpu_seconds, max_s=5, window_s=0.05, idle=share) < 1    # at rest by its own measure
