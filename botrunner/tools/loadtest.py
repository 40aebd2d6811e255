"""`botrunner loadtest`: simulated users send /start through the local Bot API server; latency is
measured from the update's injection to the bot's reply arriving at that server (both server clocks).

Two modes: the deployment guide's test (N /start from new users in B batches, I seconds apart, not
waiting for replies between batches) and an open-loop mode (R /start per second for D seconds, each
from a random idle user of a pool of U: a user's first /start is a new user, later ones returning).
The workload (`start_item`, `REPLY_METHODS`) is defined here once; the benchmarks import it.
"""
from __future__ import annotations

import asyncio
import random
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp

from botrunner.errors import LoadTestError
from botrunner.tools.latency import Samples, Summary, render_rows, summary_rows, target_rows

#: What counts as the bot's answer to /start (a captcha gate answers with a photo).
REPLY_METHODS = ["sendMessage", "sendPhoto"]
WAITS_IN_FLIGHT = 256          # /wait long polls held open at once (the rest queue in the client)


def start_item(user_id: int, args: str = "") -> dict[str, Any]:
    """The workload: one /start from `user_id` in their private chat, as an /inject/batch item."""
    return {"kind": "command", "user_id": user_id, "command": "start", "args": args,
            "first_name": f"Load{user_id}", "username": f"load{user_id}"}


@dataclass
class Run:
    """One load test in progress: samples, per-user reply cursors, the server-clock window."""

    samples: Samples = field(default_factory=Samples)
    first_inject: float = float("inf")
    last_reply: float = 0.0
    new_users: int = 0
    returning_users: int = 0
    skipped: int = 0
    cursors: dict[int, int] = field(default_factory=dict)   # user -> index of their last reply
    pending: set = field(default_factory=set)

    def summary(self) -> Summary:
        window = self.last_reply - self.first_inject if self.last_reply else 0.0
        return self.samples.summary(max(window, 0.0))


class LoadClient:
    """The control-plane calls a load generator needs, on one aiohttp session."""

    def __init__(self, api_url: str, token: str, reply_timeout: float = 10.0) -> None:
        self.base = api_url.rstrip("/") + "/__control"
        self.token = token
        self.reply_timeout = reply_timeout
        self.session: aiohttp.ClientSession | None = None
        self.waits = asyncio.Semaphore(WAITS_IN_FLIGHT)

    async def __aenter__(self) -> "LoadClient":
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WAITS_IN_FLIGHT + 16),
                                             timeout=aiohttp.ClientTimeout(total=None))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.session is not None:
            await self.session.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise LoadTestError("LoadClient used outside `async with`")
        return self.session

    async def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.post(self.base + path, json={"token": self.token, **(body or {})}) as response:
            payload = await response.json(content_type=None)
        if not payload.get("ok"):
            raise LoadTestError(f"{path}: {payload.get('description')}")
        return payload["result"]

    async def check_target(self) -> None:
        """Fail early, with a hint, unless this is a local Bot API server some bot polls with our token."""
        try:
            async with self.http.get(self.base + "/poll_stats", params={"token": self.token}) as response:
                stats = (await response.json(content_type=None)).get("result") or {}
        except (aiohttp.ClientError, ValueError) as exc:
            raise LoadTestError(f"{self.base} is not a local Bot API server with a control plane "
                                f"(start one with `botrunner emulator`): {exc}") from None
        if not stats.get("total_calls"):
            raise LoadTestError("no bot has called getUpdates with this token yet: start the bot "
                                "(`botrunner start --api-url ...`) or pass the bot's --token")

    async def wait_reply(self, chat_id: int, after: int, injected: float) -> dict[str, Any] | None:
        """The bot's first reply in the chat sent after `injected` (server monotonic), or None."""
        async with self.waits:
            remaining = injected + self.reply_timeout - time.monotonic()
            if remaining <= 0:
                return None
            # `since`: the server skips what the chat got before (a user of an earlier run has replies there)
            return await self.call("/wait", {"chat_id": chat_id, "after_index": after, "timeout": remaining,
                                             "methods": REPLY_METHODS, "since": injected})


async def inject(client: LoadClient, run: Run, users: list[int]) -> list[asyncio.Task]:
    """Inject one /start per user in one request; start awaiting each reply."""
    run.samples.add_sent(len(users))
    results = await client.call("/inject/batch", {"items": [start_item(u) for u in users]})
    tasks = []
    for user, result in zip(users, results):
        run.first_inject = min(run.first_inject, result["inject_monotonic"])
        run.pending.add(user)
        tasks.append(asyncio.create_task(await_reply(client, run, user, result["inject_monotonic"])))
    return tasks


async def await_reply(client: LoadClient, run: Run, user: int, injected: float) -> None:
    try:
        entry = await client.wait_reply(user, run.cursors.get(user, -1), injected)
    except (aiohttp.ClientError, LoadTestError, asyncio.TimeoutError):
        entry = None
    run.pending.discard(user)
    if entry is None or entry["monotonic"] - injected > client.reply_timeout:
        run.samples.add_failure()
        return
    run.cursors[user] = entry["index"]
    run.last_reply = max(run.last_reply, entry["monotonic"])
    run.samples.add_reply((entry["monotonic"] - injected) * 1000.0)


async def guide_test(client: LoadClient, run: Run, requests: int, batches: int, interval: float,
                     first_user: int) -> None:
    """N /start from N new users in `batches` batches `interval` s apart; then wait for the replies."""
    size = -(-requests // batches)
    tasks: list[asyncio.Task] = []
    for first in range(0, requests, size):
        users = list(range(first_user + first, first_user + min(first + size, requests)))
        run.new_users += len(users)
        tasks += await inject(client, run, users)
        if first + size < requests:
            await asyncio.sleep(interval)
    await asyncio.gather(*tasks)


async def open_loop(client: LoadClient, run: Run, rate: float, duration: float, users: int,
                    first_user: int, seed: int | None = None) -> None:
    """`rate` /start per second for `duration` s, each from a random user of the pool not awaiting a reply."""
    rng = random.Random(seed)
    fresh = list(range(first_user, first_user + users))
    rng.shuffle(fresh)
    tasks: list[asyncio.Task] = []
    started, due = time.monotonic(), 0
    while (elapsed := time.monotonic() - started) < duration:
        arrivals = int(rate * elapsed) + 1 - due
        if arrivals > 0:
            due += arrivals
            chosen = pick_users(run, fresh, rng, arrivals)
            if chosen:
                tasks += await inject(client, run, chosen)
        await asyncio.sleep(min(0.02, max(0.0, (due / rate) - (time.monotonic() - started))))
    await asyncio.gather(*tasks)


def pick_users(run: Run, fresh: list[int], rng: random.Random, n: int) -> list[int]:
    """Up to n users, uniformly among those not awaiting a reply (never-seen ones count as new)."""
    idle = [u for u in run.cursors if u not in run.pending]
    chosen = []
    for _ in range(n):
        if not fresh and not idle:
            run.skipped += 1
            continue
        if fresh and rng.random() < len(fresh) / (len(fresh) + len(idle)):
            chosen.append(fresh.pop())
            run.new_users += 1
        else:
            chosen.append(idle.pop(rng.randrange(len(idle))))
            run.returning_users += 1
    return chosen


async def progress(run: Run, total: Callable[[], int], out: TextIO = sys.stderr, width: int = 30) -> None:
    """A progress bar (rewritten in place on a terminal, a line every 2 s otherwise) until cancelled."""
    tty = getattr(out, "isatty", lambda: False)()
    try:
        while True:
            out.write(("\r" if tty else "") + progress_line(run, total(), width) + ("" if tty else "\n"))
            out.flush()
            await asyncio.sleep(0.25 if tty else 2.0)
    except asyncio.CancelledError:
        out.write(("\r" if tty else "") + progress_line(run, total(), width) + "\n")
        out.flush()
        raise


def progress_line(run: Run, total: int, width: int = 30) -> str:
    s = run.samples
    done = s.replied + s.failed
    filled = int(width * done / total) if total else 0
    p50, p95, p99 = s.quantiles(0.5, 0.95, 0.99)
    return (f"[{'#' * filled}{'-' * (width - filled)}] {done:>6}/{total} sent {s.sent:>6} replied {s.replied:>6} "
            f"failed {s.failed:>4}  p50 {p50:6.1f} p95 {p95:6.1f} p99 {p99:6.1f} ms")


async def run_load(api_url: str, token: str, *, requests: int = 1000, batches: int = 10, interval: float = 0.1,
                   rate: float | None = None, duration: float = 10.0, users: int = 1000,
                   first_user: int | None = None, reply_timeout: float = 10.0, show_progress: bool = True,
                   seed: int | None = None) -> Run:
    """Run the guide's test (rate None) or the open-loop mode; returns the finished Run."""
    raise_fd_limit()
    first_user = first_user if first_user is not None else random.randrange(1, 4000) * 1_000_000
    run = Run()
    expected = (lambda: int(rate * duration)) if rate else (lambda: requests)
    async with LoadClient(api_url, token, reply_timeout) as client:
        await client.check_target()
        bar = asyncio.create_task(progress(run, expected)) if show_progress else None
        try:
            if rate:
                await open_loop(client, run, rate, duration, users, first_user, seed)
            else:
                await guide_test(client, run, requests, batches, interval, first_user)
        finally:
            if bar:
                bar.cancel()
                await asyncio.gather(bar, return_exceptions=True)
    return run


def raise_fd_limit() -> None:
    """Many replies are awaited at once: allow as many sockets as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def describe(rate: float | None, requests: int, batches: int, interval: float, duration: float, users: int) -> str:
    if rate:
        return f"open loop: {rate:g} /start per second for {duration:g} s from a pool of {users} users"
    return f"guide's test: {requests} /start from new users in {batches} batches, {interval * 1000:g} ms apart"


def report(run: Run, title: str, open_loop_mode: bool) -> str:
    """The text report: the shared latency rows, the user mix, and PASS/FAIL per target."""
    summary = run.summary()
    rows = summary_rows(summary)
    if open_loop_mode:
        rows.append(("users new / returning", f"{run.new_users} / {run.returning_users}"
                     + (f" ({run.skipped} arrivals skipped: every user awaited a reply)" if run.skipped else "")))
    verdict = "PASS" if summary.passed() else "FAIL"
    return (f"botrunner loadtest: {title}\n" + render_rows(rows) + "\n\ntargets\n" + render_rows(target_rows(summary))
            + f"\n\nresult: {verdict}")


def as_json(run: Run, title: str) -> dict[str, Any]:
    """One object for machines: the summary, the targets, the user mix."""
    return {"workload": title, **run.summary().as_dict(), "new_users": run.new_users,
            "returning_users": run.returning_users, "skipped": run.skipped}
