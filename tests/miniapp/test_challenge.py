"""The slider challenge against a real Redis: one use, expiry, owner, tolerance, human-looking drags."""
from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from botrunner.miniapp.challenge import ChallengeError, Challenges, check_trace

PREFIX = "botrunner:test:"


def drag(to: float, ms: int = 900, points: int = 30) -> list[list[float]]:
    """A human-ish drag: eased motion with a little vertical wobble."""
    out = []
    for i in range(points):
        f = i / (points - 1)
        out.append([ms * f, to * (1 - (1 - f) ** 2), 0.5 + 0.02 * ((i * 7) % 5 - 2)])
    return out


def run(redis_url, scenario):
    async def main():
        client = aioredis.from_url(redis_url)
        try:
            return await scenario(Challenges(client, PREFIX), client)
        finally:
            await client.aclose()
    return asyncio.run(main())


async def target_of(client, challenge) -> float:
    return json.loads(await client.get(f"{PREFIX}miniapp:challenge:{challenge.id}"))["target"]


def test_a_drag_onto_the_gap_passes_once(redis_url):
    async def scenario(challenges, client):
        c = await challenges.issue(42)
        public = c.public()
        assert public["track"].startswith("data:image/png;base64,") and "target" not in json.dumps(public)
        target = await target_of(client, c)
        await challenges.answer(c.id, 42, target + 0.01, drag(target + 0.01))
        with pytest.raises(ChallengeError, match="expired"):
            await challenges.answer(c.id, 42, target, drag(target))          # one use
    run(redis_url, scenario)


def test_a_miss_another_user_and_an_unknown_id_are_refused(redis_url):
    async def scenario(challenges, client):
        c = await challenges.issue(42)
        target = await target_of(client, c)
        with pytest.raises(ChallengeError, match="expired"):
            await challenges.answer(c.id, 43, target, drag(target))          # not this user's challenge
        c = await challenges.issue(42)
        target = await target_of(client, c)
        with pytest.raises(ChallengeError, match="not quite"):
            await challenges.answer(c.id, 42, target + 0.2, drag(target + 0.2))
        with pytest.raises(ChallengeError, match="expired"):
            await challenges.answer("no-such-id", 42, 0.5, drag(0.5))
    run(redis_url, scenario)


def test_scripted_drags_are_refused():
    with pytest.raises(ChallengeError, match="too fast"):
        check_trace(drag(0.5, ms=60))
    straight = [[i * 50.0, i / 20, 0.5] for i in range(21)]          # constant speed, no wobble: a script
    with pytest.raises(ChallengeError, match="finger"):
        check_trace(straight)
    for bad in (None, "x", [[0, 0, 0]] * 3, [["a", 1, 2]] * 10, [[100 - i, 0.1, 0.5 + i / 100] for i in range(10)]):
        with pytest.raises(ChallengeError):
            check_trace(bad)
    check_trace(drag(0.5))


def test_attempts_are_counted_per_user_across_new_challenges(redis_url):
    async def scenario(challenges, client):
        allowed = [await challenges.count_attempt("user", "42", limit=3, window_s=60) for _ in range(4)]
        ttl = await client.ttl(f"{PREFIX}miniapp:attempts:user:42")
        return allowed, ttl
    allowed, ttl = run(redis_url, scenario)
    assert allowed == [True, True, True, False] and 0 < ttl <= 60
