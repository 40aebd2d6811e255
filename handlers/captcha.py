"""The captcha gate: an image captcha (PyPI `captcha`, JPEG via Pillow) sent as a photo, answered by text.

`ImageCaptcha` is one implementation of the gate's three steps (challenge, answer, refresh); a
MiniApp captcha can be another, chosen in handlers.app. The code lives in the conversation data
(encrypted at rest when SESSION_ENCRYPTION_KEY is set); passing it flips users.captcha_passed,
which the gate checks, and pays the referral bonus recorded at /start. Wrong answers are counted per
user in Redis (TTL CAPTCHA_SESSION_TIMEOUT), not per challenge: neither "New picture" nor /start
resets the count, so the lock-out is reached however the answers are spread over new challenges.
Pictures come from a `CaptchaPool` (rendered ahead, each shown once: see handlers.captcha_pool);
a new user's welcome is the photo's caption, so /start costs one Bot API call, not two.
"""
from __future__ import annotations

import io
import secrets
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from captcha.image import ImageCaptcha as Renderer

from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers.captcha_pool import CaptchaPool
from handlers.flags import OPEN
from handlers.gate import clean_text
from handlers.menu import show_menu
from handlers.runtime import runtime
from handlers.start import welcome_verified
from handlers.ui import button, keyboard

if TYPE_CHECKING:
    from redis.client import Pipeline

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"     # no 0/O, 1/I: answers should not hinge on the font
STATE = "captcha"
LOCK_AND_WRONG = "captcha_lock_and_wrong"   # ctx.data: (lock-out TTL, wrong answers) as the gate read them
JPEG_QUALITY = 85       # Telegram re-encodes photos as JPEG anyway; PNG took 20x longer to encode, 2x the bytes
FILE_NAME = "captcha.jpg"
router = Router("captcha")


def random_code(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def jpeg_renderer(width: int = 240, height: int = 90) -> Callable[[str], bytes]:
    """code -> the picture as JPEG bytes (the `captcha` package draws it: warped glyphs, noise, a curve)."""
    renderer = Renderer(width=width, height=height)

    def render(code: str) -> bytes:
        out = io.BytesIO()
        renderer.generate_image(code).save(out, format="JPEG", quality=JPEG_QUALITY)
        return out.getvalue()
    return render


class ImageCaptcha:
    """Image captcha with CAPTCHA_MAX_ATTEMPTS answers within CAPTCHA_SESSION_TIMEOUT, then a lock-out."""

    def __init__(self, length: int, max_attempts: int, timeout_s: float,
                 make_code: Callable[[int], str] = random_code, pool_size: int = 0,
                 render: Callable[[str], bytes] | None = None) -> None:
        self.length = length
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.pool = CaptchaPool(render or jpeg_renderer(), lambda: make_code(length), pool_size)

    def _attempts_key(self, ctx: Context) -> str:
        return runtime(ctx).key("captcha-attempts", ctx.user_id)

    def attempts(self, ctx: Context) -> int:
        """Wrong answers of this user within the current window."""
        return int(runtime(ctx).redis.get(self._attempts_key(ctx)) or 0)

    def _count_wrong(self, ctx: Context) -> int:
        pipe = runtime(ctx).redis.pipeline()
        pipe.incr(self._attempts_key(ctx))
        pipe.expire(self._attempts_key(ctx), max(1, int(self.timeout_s)))
        return int(pipe.execute()[0])

    def queue_reads(self, ctx: Context, pipe: Pipeline) -> Callable[[Iterator[Any]], None]:
        """Queue on the gate's pipeline what a challenge reads (the lock-out's TTL, the wrong answers);
        the returned function takes the answers into ctx.data for `challenge`."""
        pipe.ttl(runtime(ctx).key("captcha-lock", ctx.user_id))
        pipe.get(self._attempts_key(ctx))

        def take(answers: Iterator[Any]) -> None:
            ctx.data[LOCK_AND_WRONG] = (int(next(answers) or 0), int(next(answers) or 0))
        return take

    def _lock_and_attempts(self, ctx: Context) -> tuple[int, int]:
        """(seconds the lock-out still lasts or <= 0, wrong answers so far): as the gate read them for
        this update (only `answer` writes them, and it challenges only before it writes), else read now."""
        read = ctx.data.pop(LOCK_AND_WRONG, None)
        if read is not None:
            return read
        pipe = runtime(ctx).redis.pipeline(transaction=False)
        take = self.queue_reads(ctx, pipe)
        take(iter(pipe.execute()))
        return ctx.data.pop(LOCK_AND_WRONG)

    def challenge(self, ctx: Context, intro: str = "") -> None:
        """Send a new image (or say how long the lock-out lasts); wrong answers so far still count.
        `intro` (a new user's welcome) opens the photo's caption."""
        rt = runtime(ctx)
        locked, wrong = self._lock_and_attempts(ctx)
        if locked > 0:
            notice = rt.t(ctx, "captcha_locked", minutes=max(1, locked // 60 + (locked % 60 > 0)))
            ctx.reply(f"{intro}\n\n{notice}" if intro else notice)
            return
        code, picture = self.pool.take()
        session = ctx.state_data
        session["captcha"] = {"code": code, "expires_at": time.time() + self.timeout_s}
        ctx.set_state_data(session)
        ctx.set_state(STATE)
        prompt = rt.t(ctx, "captcha_prompt", attempts=max(1, self.max_attempts - wrong),
                      minutes=max(1, int(self.timeout_s // 60)))
        ctx.call("sendPhoto", chat_id=ctx.chat_id, photo=(FILE_NAME, picture),
                 caption=f"{intro}\n\n{prompt}" if intro else prompt,
                 reply_markup=keyboard([button(ctx, rt.t(ctx, "btn_captcha_refresh"), "cap:new")]))

    def answer(self, ctx: Context) -> bool:
        """Check a text answer; True when passed (the caller then welcomes the user)."""
        rt = runtime(ctx)
        session = ctx.state_data
        pending = session.get("captcha")
        if not pending:
            self.challenge(ctx)
            return False
        if time.time() > pending["expires_at"]:
            ctx.reply(rt.t(ctx, "captcha_expired"))
            self.challenge(ctx)
            return False
        given = clean_text(ctx, 32).replace(" ", "").upper()
        if secrets.compare_digest(given.encode(), pending["code"].encode()):
            session.pop("captcha", None)
            ctx.set_state_data(session)
            ctx.clear_state()
            rt.store.users.set_captcha(ctx.user_id, True, "passed")
            rt.redis.delete(self._attempts_key(ctx))
            return True
        left = self.max_attempts - self._count_wrong(ctx)
        if left <= 0:
            session.pop("captcha", None)
            ctx.set_state_data(session)
            ctx.clear_state()
            rt.redis.set(rt.key("captcha-lock", ctx.user_id), 1, ex=int(self.timeout_s))
            rt.redis.delete(self._attempts_key(ctx))
            rt.store.users.set_captcha(ctx.user_id, False, "failed")
            ctx.reply(rt.t(ctx, "captcha_failed", minutes=max(1, int(self.timeout_s // 60))))
            return False
        ctx.reply(rt.t(ctx, "captcha_wrong", attempts=left))
        return False

    def refresh(self, ctx: Context) -> None:
        """A new image; wrong answers so far still count, so refreshing cannot reset the limit."""
        self.challenge(ctx)


def on_answer(ctx: Context) -> None:
    """Text while the captcha is pending."""
    rt = runtime(ctx)
    user = rt.users.get(ctx.user_id)
    if user is None:
        ctx.clear_state()
        ctx.reply(rt.t(ctx, "start_first"))
        return
    if user.captcha_passed:
        ctx.clear_state()
        show_menu(ctx)
        return
    if rt.captcha.answer(ctx):
        welcome_verified(ctx)


def on_refresh(ctx: Context) -> None:
    rt = runtime(ctx)
    user = rt.users.get(ctx.user_id)
    if user is not None and user.captcha_passed:
        ctx.answer(rt.t(ctx, "captcha_done"))
        return
    ctx.answer()
    rt.captcha.refresh(ctx)


router.state(STATE, flags=OPEN)(on_answer)
router.callback("cap:new", flags=OPEN)(on_refresh)
