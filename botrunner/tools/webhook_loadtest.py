"""`botrunner loadtest --webhook URL --secret S`: the deployment guide's webhook load test, exactly.

N /start updates (update_id and user id first_id + i, as the guide's script builds them) POSTed to
the webhook with the secret header, in B batches of N/B concurrent POSTs; a batch is awaited, then
I seconds pass before the next. A POST succeeds when it is answered 2xx within the timeout (5 s).
Reported like the guide: success, mean, p50/p95/p99 (sorted[floor(n*q)]) and its targets.

With a local Bot API server (--api-url), also the time from each POST until the bot's reply
reached that server: the chats are declared there first, and both clocks are this host's
CLOCK_MONOTONIC, so the load generator and the server must run on one machine.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from botrunner.intake.webhook import SECRET_HEADER
from botrunner.tools.latency import Samples, Summary, render_rows, summary_rows, target_rows
from botrunner.tools.loadtest import LoadClient, raise_fd_limit


def guide_update(index: int, first_id: int) -> dict[str, Any]:
    """The guide's simulateStart(index) body, plus the `is_bot` every real User carries (the Bot API
    requires it; without it the update is stored, but no handler can parse it)."""
    user_id = first_id + index
    return {"update_id": first_id + index,
            "message": {"message_id": index, "from": {"id": user_id, "is_bot": False, "first_name": f"LoadTest{index}",
                                                      "username": f"loadtest{index}"},
                        "chat": {"id": user_id, "type": "private"}, "date": int(time.time()), "text": "/start"}}


@dataclass
class WebhookRun:
    """POST response times (the guide's numbers) and, with a Bot API server, reply times."""

    posts: Samples = field(default_factory=Samples)
    replies: Samples | None = None
    statuses: Counter = field(default_factory=Counter)    # HTTP status (or error name) -> count
    started: float = 0.0
    finished: float = 0.0
    last_reply: float = 0.0

    def post_summary(self) -> Summary:
        return self.posts.summary(max(self.finished - self.started, 0.0))

    def reply_summary(self) -> Summary | None:
        if self.replies is None:
            return None
        return self.replies.summary(max(self.last_reply - self.started, 0.0))

    def passed(self) -> bool:
        replies = self.reply_summary()
        return self.post_summary().passed() and (replies is None or replies.passed())


async def post_one(http: aiohttp.ClientSession, url: str, secret: str, body: bytes, timeout: float,
                   run: WebhookRun) -> float | None:
    """One POST; its start time (monotonic) when answered 2xx in time, else None."""
    started = time.monotonic()
    try:
        async with http.post(url, data=body, timeout=aiohttp.ClientTimeout(total=timeout),
                             headers={"Content-Type": "application/json", SECRET_HEADER: secret}) as response:
            await response.read()
            status: int | str = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        status = type(exc).__name__
    run.statuses[status] += 1
    if isinstance(status, int) and 200 <= status < 300:
        run.posts.add_reply((time.monotonic() - started) * 1000.0)
        return started
    run.posts.add_failure()
    return None


async def await_reply(client: LoadClient, run: WebhookRun, chat_id: int, posted: float) -> None:
    assert run.replies is not None
    try:
        entry = await client.wait_reply(chat_id, -1, posted)
    except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError):
        entry = None
    if entry is None:
        run.replies.add_failure()
        return
    run.last_reply = max(run.last_reply, entry["monotonic"])
    run.replies.add_reply((entry["monotonic"] - posted) * 1000.0)


async def declare_chats(client: LoadClient, chat_ids: list[int]) -> None:
    """The Bot API server only lets the bot write to chats it knows: declare the private chats first."""
    limit = asyncio.Semaphore(32)

    async def one(chat_id: int) -> None:
        async with limit:
            await client.call("/chat", {"chat_id": chat_id, "type": "private"})
    await asyncio.gather(*(one(chat_id) for chat_id in chat_ids))


async def run_webhook_load(url: str, secret: str, *, requests: int = 1000, batches: int = 10,
                           interval: float = 0.1, timeout: float = 5.0, first_id: int = 1000000,
                           api_url: str | None = None, token: str | None = None,
                           reply_timeout: float = 10.0) -> WebhookRun:
    """The guide's test against `url`; replies awaited at `api_url` when given."""
    raise_fd_limit()
    run = WebhookRun(replies=Samples() if api_url else None)
    size = -(-requests // batches)
    async with LoadClient(api_url or "http://unused", token or "", reply_timeout) as client, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        if api_url:
            await declare_chats(client, [first_id + i for i in range(requests)])
        waiting: list[asyncio.Task] = []
        run.started = time.monotonic()
        for first in range(0, requests, size):
            indexes = range(first, min(first + size, requests))
            bodies = [json.dumps(guide_update(i, first_id)).encode() for i in indexes]
            started = await asyncio.gather(*(post_one(http, url, secret, body, timeout, run) for body in bodies))
            if api_url:
                assert run.replies is not None
                run.replies.add_sent(len(bodies))
                waiting += [asyncio.create_task(await_reply(client, run, first_id + i, posted))
                            for i, posted in zip(indexes, started) if posted is not None]
                run.replies.add_failure(sum(1 for posted in started if posted is None))
            await asyncio.sleep(interval)       # the guide sleeps after every batch, the last one too
        run.finished = time.monotonic()
        run.posts.add_sent(requests)
        await asyncio.gather(*waiting)
    return run


def describe(url: str, requests: int, batches: int, interval: float, timeout: float) -> str:
    return (f"guide's webhook test: {requests} /start POSTed to {url} in {batches} batches of "
            f"{-(-requests // batches)} concurrent, {interval * 1000:g} ms apart, {timeout:g} s timeout")


def report(run: WebhookRun, title: str) -> str:
    posts = run.post_summary()
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(run.statuses.items(), key=str))
    text = (f"botrunner loadtest: {title}\n\nwebhook responses\n" + render_rows(summary_rows(posts))
            + f"\n  statuses  {statuses}\n\ntargets (the guide's)\n" + render_rows(target_rows(posts)))
    replies = run.reply_summary()
    if replies is not None:
        text += ("\n\nreplies received by the Bot API server (from the POST)\n" + render_rows(summary_rows(replies))
                 + "\n\ntargets\n" + render_rows(target_rows(replies)))
    return text + f"\n\nresult: {'PASS' if run.passed() else 'FAIL'}"


def as_json(run: WebhookRun, title: str) -> dict[str, Any]:
    replies = run.reply_summary()
    return {"workload": title, "webhook": run.post_summary().as_dict(),
            "statuses": {str(status): count for status, count in run.statuses.items()},
            "replies": replies.as_dict() if replies is not None else None, "passed": run.passed()}
