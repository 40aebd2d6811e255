"""The comparison's pause between phases (benchmarks.systems.settle): it lasts while the system works
(a captcha pool refilling) and ends once the system is idle, never later than its bound; and its CPU
column (CpuAccount): the work done in the pauses is counted, only the system's share at rest is not."""
from __future__ import annotations

import time

from benchmarks.systems import QUIET_WINDOWS, REST_CEILING, SETTLE_WINDOW_S, CpuAccount, rest_share, settle
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
    share = rest_share(cpu_seconds, max_s=5, window_s=0.05)
    assert share is not None and 0.12 < share < 0.16
    assert settle(cpu_seconds, max_s=5, window_s=0.05) >= 5               # never "idle" by the fixed threshold
    assert settle(cpu_seconds, max_s=5, window_s=0.05, idle=share) < 1    # at rest by its own measure


class Simulated:
    """CPU seconds of a system that burns `rest` of a core for ever, plus a full core for each stretch of
    work it is given (one after another, like a pool refilling), plus work done at once (a burst)."""

    def __init__(self, rest: float) -> None:
        self.began = time.monotonic()
        self.rest = rest
        self.stretches: list[tuple[float, float]] = []
        self.done_at_once = 0.0

    def work_for(self, seconds: float) -> None:
        start = max([time.monotonic(), *(end for _, end in self.stretches)])
        self.stretches.append((start, start + seconds))

    def __call__(self) -> float:
        now = time.monotonic()
        worked = sum(max(0.0, min(now, end) - start) for start, end in self.stretches)
        return self.rest * (now - self.began) + worked + self.done_at_once


def test_the_rest_share_is_measured_once_the_work_after_boot_is_done():
    """The airdrop bot's workers fill their captcha pools right after boot: that is work, not rest."""
    system = Simulated(rest=0.02)
    system.work_for(0.3)
    share = rest_share(system, max_s=5, window_s=0.02)
    assert share is not None and share < 0.05
    assert rest_share(idling_at(2 * REST_CEILING), max_s=0.3, window_s=0.02) is None   # never at rest


def test_the_cpu_column_counts_the_work_done_in_the_pauses_and_takes_out_only_the_rest():
    """The benchmark's sequence (compare.measure) on a system that refills a pool after boot and after
    each phase: the column is the phases' work plus their refills. With the share at rest measured right
    after boot (during the refill) the pauses took out more than the refills cost: the column went
    negative."""
    system = Simulated(rest=0.1)
    system.work_for(0.4)                                      # the pools filling after boot
    account = CpuAccount(system, settle_max_s=10, window_s=0.02)
    assert account.measure_rest() is not None
    system.work_for(0.05)                                     # the warm-up's refill: before the window
    account.pause()
    account.start()
    system.done_at_once += 1.0                                # the burst
    system.work_for(0.3)                                      # ... and the refill it leaves
    account.pause()
    system.done_at_once += 0.5                                # the guide's test
    system.work_for(0.15)
    account.pause()
    assert account.paused > 0.45
    assert abs(account.work() - (1.0 + 0.3 + 0.5 + 0.15)) < 0.06
