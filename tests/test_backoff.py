"""The one backoff rule: doubling from `first`, capped, optional 50-100 % jitter, reset on success."""
from __future__ import annotations

import random

import pytest

from botrunner.backoff import Backoff, delay_after


def test_delay_doubles_per_failure_up_to_the_cap():
    assert [delay_after(n, 0.5, 4.0) for n in range(0, 7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_without_jitter_the_schedule_is_exact_and_reset_starts_over():
    backoff = Backoff(first=1.0, cap=30.0, jitter=False)
    assert [backoff.next_delay() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff.failures == 7
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == 1.0


@pytest.mark.parametrize("failures", [1, 3, 8])
def test_jitter_stays_within_half_and_all_of_the_delay(failures):
    random.seed(1)
    full = delay_after(failures, 0.5, 30.0)
    delays = []
    for _ in range(200):
        backoff = Backoff(first=0.5, cap=30.0)
        for _ in range(failures):
            delay = backoff.next_delay()
        delays.append(delay)
    assert all(full * 0.5 <= d <= full for d in delays)
    assert max(delays) - min(delays) > full * 0.3      # spread out, so workers do not retry in step
