"""The captcha pool (handlers.captcha_pool): pictures rendered ahead, each handed out once; and the bot
serving its /start pictures from a started pool (real renderer, real SQLite and Redis)."""
from __future__ import annotations

import hashlib
import itertools
import threading
import time

import pytest

from handlers.captcha import jpeg_renderer, random_code
from handlers.captcha_pool import CaptchaPool
from tests.handlers.harness import joined

WAIT_S = 30.0          # generous: the machine running the tests may be loaded


def counting_pool(size: int) -> CaptchaPool:
    """A pool whose codes are 0, 1, 2, ... and whose picture is the code's bytes: repeats are easy to see."""
    numbers = itertools.count()
    return CaptchaPool(render=lambda code: code.encode(), make_code=lambda: str(next(numbers)), size=size)


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_an_unstarted_pool_renders_each_picture_when_asked():
    pool = counting_pool(size=8)
    assert [pool.take() for _ in range(3)] == [("0", b"0"), ("1", b"1"), ("2", b"2")]
    assert (pool.served_ready, pool.served_inline, len(pool)) == (0, 3, 0)


def test_pictures_rendered_ahead_are_handed_out_once_then_rendered_fresh():
    pool = counting_pool(size=4)
    while pool.fill_one():
        pass
    assert len(pool) == 4 and not pool.fill_one()            # bounded
    taken = [pool.take() for _ in range(6)]
    assert [code for code, _ in taken] == ["0", "1", "2", "3", "4", "5"]   # 4 from the pool, 2 fresh: no repeat
    assert (pool.served_ready, pool.served_inline) == (4, 2)


def test_the_filler_keeps_the_pool_full_and_refills_after_takes():
    pool = counting_pool(size=5).start()
    try:
        wait_for(lambda: len(pool) == 5, "the pool to fill")
        first = [pool.take() for _ in range(3)]
        wait_for(lambda: len(pool) == 5, "the pool to refill")
        later = [pool.take() for _ in range(5)]
        assert pool.served_ready == 8
        codes = [code for code, _ in first + later]
        assert len(set(codes)) == 8                           # nothing handed out twice
    finally:
        pool.stop()
    assert pool._thread is None


def test_the_filler_waits_for_quiet_time_before_rendering_ahead():
    rendered = itertools.count()
    pool = CaptchaPool(render=lambda code: (next(rendered), code.encode())[1], make_code=lambda: random_code(5),
                       size=4, idle_s=2.0).start()
    try:
        wait_for(lambda: len(pool) == 4, "the pool to fill (nothing was taken yet: quiet)")
        taken_at = time.monotonic()
        for _ in range(3):
            pool.take()
        count = next(rendered)
        time.sleep(0.3)
        if time.monotonic() - taken_at < 1.5:                 # still inside the quiet window on a loaded machine
            assert len(pool) == 1 and next(rendered) == count + 1   # nothing rendered during the "burst"
        wait_for(lambda: len(pool) == 4, "the refill once quiet")
        assert time.monotonic() - taken_at >= 2.0              # not before the quiet time
    finally:
        pool.stop()


def test_concurrent_takers_never_get_the_same_picture():
    pool = counting_pool(size=64).start()
    got: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def taker() -> None:
        for _ in range(50):
            item = pool.take()
            with lock:
                got.append(item)
    try:
        wait_for(lambda: len(pool) == 64, "the pool to fill")
        threads = [threading.Thread(target=taker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_S)
    finally:
        pool.stop()
    assert len(got) == 400 and len({code for code, _ in got}) == 400


class WorkerCpu:
    """A worker process's CPU clock whose other threads burn a full core while `busy` is set."""

    def __init__(self) -> None:
        self.busy = threading.Event()
        self.spent, self.since = 0.0, None
        self.lock = threading.Lock()

    def __call__(self) -> float:
        now = time.monotonic()
        with self.lock:
            if self.since is not None:
                self.spent += now - self.since
            self.since = now if self.busy.is_set() else None
            return self.spent


def test_the_filler_waits_while_the_rest_of_the_worker_is_busy():
    """No picture taken is not quiet enough: the burst's replies may still be being sent."""
    cpu = WorkerCpu()
    cpu.busy.set()
    numbers = itertools.count()
    pool = CaptchaPool(render=lambda code: code.encode(), make_code=lambda: str(next(numbers)), size=5,
                       idle_s=0.01, cpu_clock=cpu).start()
    try:
        time.sleep(0.5)                                       # many quiet checks' worth, none quiet
        assert len(pool) == 0
        cpu.busy.clear()
        wait_for(lambda: len(pool) == 5, "the pool to fill once the worker is idle")
    finally:
        pool.stop()


def test_a_lazy_pool_starts_filling_at_its_first_take():
    pool = counting_pool(size=3).start(lazily=True)
    try:
        time.sleep(0.05)
        assert len(pool) == 0 and pool._thread is None        # the captcha is off: nothing rendered
        assert pool.take() == ("0", b"0")
        wait_for(lambda: len(pool) == 3, "the pool to fill after the first take")
    finally:
        pool.stop()


def test_a_failing_render_does_not_end_the_filler():
    calls = itertools.count()

    def render(code: str) -> bytes:
        if next(calls) == 0:
            raise OSError("font file unreadable")
        return code.encode()
    pool = CaptchaPool(render, make_code=lambda: random_code(5), size=2)
    pool._stop.wait = lambda timeout=None: False              # skip the 5 s pause after a failure
    pool.start()
    try:
        wait_for(lambda: len(pool) == 2, "the filler to recover")
    finally:
        pool.stop()


def test_size_zero_never_starts_a_thread():
    pool = counting_pool(size=0).start()
    assert pool._thread is None and not pool.fill_one()
    assert pool.take() == ("0", b"0")


@pytest.fixture
def pooled_bot(make_bot):
    bot = make_bot(CAPTCHA_POOL_SIZE="16")
    bot.rt.captcha.pool.start()
    wait_for(lambda: len(bot.rt.captcha.pool) == 16, "the bot's pool to fill")
    yield bot
    bot.rt.captcha.pool.stop()


def test_a_hundred_accounts_see_a_hundred_different_pictures(pooled_bot):
    """What a farmer with many accounts gets: never a picture (or code) another account was shown."""
    pictures, codes = set(), set()
    for user in range(1000, 1100):
        photo = next(p for m, p in pooled_bot.command(user, "start") if m == "sendPhoto")["photo"][1]
        pictures.add(hashlib.sha256(photo).hexdigest())
        codes.add(pooled_bot.captcha_code(user))
    assert len(pictures) == 100 and len(codes) == 100
    assert pooled_bot.rt.captcha.pool.served_ready >= 16      # the first ones came from the pool


def test_a_pooled_picture_verifies_its_code_and_rejects_a_wrong_one(pooled_bot):
    pooled_bot.command(1, "start")
    pooled_bot.command(2, "start")
    assert pooled_bot.rt.captcha.pool.served_ready == 2
    code_1, code_2 = pooled_bot.captcha_code(1), pooled_bot.captcha_code(2)
    assert "Attempts left: 2" in joined(pooled_bot.text(2, code_1))   # another account's answer is wrong here
    assert "Verified" in joined(pooled_bot.text(1, code_1))
    assert "Verified" in joined(pooled_bot.text(2, code_2.lower()))
    assert pooled_bot.rt.store.users.get(1).captcha_passed and pooled_bot.rt.store.users.get(2).captcha_passed


def test_new_picture_takes_another_unseen_picture(pooled_bot):
    from tests.handlers.harness import button_data
    out = pooled_bot.command(1, "start")
    first = pooled_bot.captcha_code(1)
    out = pooled_bot.press(1, button_data(out, "cap:new"))
    second = pooled_bot.captcha_code(1)
    assert second != first and any(m == "sendPhoto" for m, _ in out)
    assert "Attempts left: 2" in joined(pooled_bot.text(1, first))     # the replaced picture's code no longer counts


def test_the_real_renderer_makes_distinct_jpegs():
    render = jpeg_renderer()
    a, b = render("ABCDE"), render("ABCDE")
    assert a.startswith(b"\xff\xd8\xff") and b.startswith(b"\xff\xd8\xff")
    assert a != b                                             # noise and warp are drawn per picture
