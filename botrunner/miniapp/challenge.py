"""The slider challenge, generated and checked on the server.

Invariant: the target is never sent as data, only drawn into the track image a person looks at
(`render_track`: a noisy PNG with the gap's outline, drawn in a thread, never on the event loop);
a challenge is answered at most once (GETDEL), expires after CHALLENGE_TTL_S, and every answer
counts against the user's and the client IP's attempt budgets (kept in Redis with a TTL, so a new challenge does not reset them).
A drag that is too fast, too short or perfectly straight is refused as scripted input.
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import secrets
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from PIL import Image, ImageDraw

CHALLENGE_TTL_S = 120
TOLERANCE = 0.035                  # fraction of the track the piece may miss the gap by
MIN_DRAG_MS = 250
MIN_POINTS = 6
MAX_POINTS = 2000
# one round trip; the window starts at the first attempt (EXPIRE NX needs Redis 7)
COUNT_ATTEMPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
TRACK_SIZE = (320, 120)            # pixels of the rendered track image
PIECE = 0.12                       # the piece's width as a fraction of the track


@dataclass(frozen=True)
class Challenge:
    """What the page gets: an id and the track image with the gap drawn in it."""

    id: str
    image_png: bytes

    def public(self) -> dict[str, Any]:
        data_uri = "data:image/png;base64," + base64.b64encode(self.image_png).decode()
        return {"challenge_id": self.id, "track": data_uri, "piece_width": PIECE}


def render_track(target: float) -> bytes:
    """A noisy track with the gap's outline at `target` (the piece's left edge, fraction of the width)."""
    width, height = TRACK_SIZE
    image = Image.new("RGB", TRACK_SIZE, (236, 240, 244))
    draw = ImageDraw.Draw(image)
    for _ in range(90):
        x, y, r = secrets.randbelow(width), secrets.randbelow(height), 2 + secrets.randbelow(9)
        shade = 170 + secrets.randbelow(70)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(shade, shade - 20, shade + 10))
    left, size = int(target * width), int(PIECE * width)
    top = (height - size) // 2
    draw.rectangle((left, top, left + size, top + size), fill=(90, 96, 110), outline=(255, 255, 255), width=2)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


class ChallengeError(ValueError):
    """The answer is refused; the message is a short reason for the page."""


def random_target() -> float:
    return 0.25 + secrets.randbelow(6000) / 10000.0          # 0.25 .. 0.85 of the track


def check_trace(trace: Any) -> None:
    """The drag as recorded by the page: [[ms, x, y], ...] with x as a fraction of the track."""
    if not isinstance(trace, list) or not MIN_POINTS <= len(trace) <= MAX_POINTS:
        raise ChallengeError("drag the piece to the gap")
    try:
        points = [(float(t), float(x), float(y)) for t, x, y in trace]
    except (TypeError, ValueError) as exc:
        raise ChallengeError("drag the piece to the gap") from exc
    times = [p[0] for p in points]
    if any(b < a for a, b in zip(times, times[1:])) or times[-1] - times[0] < MIN_DRAG_MS:
        raise ChallengeError("too fast: drag the piece slowly")
    if len({round(p[2], 1) for p in points}) < 2 and len({round(b[1] - a[1], 3) for a, b in zip(points, points[1:])}) < 3:
        raise ChallengeError("that did not look like a finger")


class Challenges:
    """Challenges of one bot in Redis: issue, then answer once."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, challenge_id: str) -> str:
        return f"{self.prefix}miniapp:challenge:{challenge_id}"

    async def issue(self, user_id: int) -> Challenge:
        target = random_target()
        # drawing and encoding take milliseconds of CPU: off the event loop the webhook intake shares
        challenge = Challenge(secrets.token_urlsafe(18), await asyncio.to_thread(render_track, target))
        await self.client.set(self._key(challenge.id), json.dumps({"user_id": user_id, "target": target}),
                              ex=CHALLENGE_TTL_S)
        return challenge

    async def answer(self, challenge_id: str, user_id: int, position: Any, trace: Any) -> None:
        """Raises ChallengeError unless this user's answer lands on the gap; the challenge is used up."""
        raw = await self.client.getdel(self._key(str(challenge_id)[:64]))
        if raw is None:
            raise ChallengeError("challenge expired; try again")
        stored = json.loads(raw)
        if stored["user_id"] != user_id:
            raise ChallengeError("challenge expired; try again")
        check_trace(trace)
        try:
            missed = abs(float(position) - stored["target"])
        except (TypeError, ValueError) as exc:
            raise ChallengeError("drag the piece to the gap") from exc
        if missed > TOLERANCE:
            raise ChallengeError("not quite: try again")

    async def count_attempt(self, scope: str, who: str, limit: int, window_s: int) -> bool:
        """Count one attempt of `who` (a user id or an IP) in `scope`; False once past `limit` in the window."""
        key = f"{self.prefix}miniapp:attempts:{scope}:{who}"
        # redis-py types async replies as "Awaitable[str] | str"; the window goes as text like every argument
        count = await self.client.eval(COUNT_ATTEMPT, 1, key, str(window_s))  # type: ignore[misc]
        return int(count) <= limit
