"""`botrunner status`: the pipeline of one named bot as Redis sees it, from any host.

It reads the keys of exactly one bot (the one BOT_TOKEN names) and says which; the CLI refuses
to guess when no token is set, since an empty answer for the wrong bot looks like a dead one.
Besides Redis it makes one Bot API call, getWebhookInfo, because a webhook left set by an
earlier deployment is the commonest reason a healthy-looking runner receives nothing.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import redis

from botrunner.lanes.generation import losses
from botrunner.redis_keys import GROUP, Keys
from botrunner.redis_replies import text
from botrunner.sender.metrics import totals

LAG_COUNT_CAP = 100_000


@dataclass
class Snapshot:
    """Everything `status` prints."""

    workers: list[dict[str, Any]] = field(default_factory=list)
    poll_holder: str | None = None
    poll_offset: int | None = None
    last_poll_age_s: float | None = None
    lanes: list[tuple[int, int, int, str | None]] = field(default_factory=list)  # lane, pending, undelivered, owner
    dead_letters: int = 0
    sender: dict[str, int] = field(default_factory=dict)   # send_* counters summed over live workers
    blocked_chats: int = 0
    data_losses: int = 0                                   # Redis data losses the workers detected
    faults: dict[str, int] = field(default_factory=dict)   # faults survived (stale owners, timeouts, ...)
    bot: str = ""                                           # "<bot id> (keys botrunner:<id>:*)"
    source: str = ""                                        # which Redis, which STATE_DIR
    poll_error: dict[str, Any] | None = None                # last getUpdates error {code, description, at}
    webhook: dict[str, Any] | None = None                   # getWebhookInfo result, or {"error": ...}


def _get(client: redis.Redis, key: str) -> bytes | None:
    return cast("bytes | None", client.get(key))   # redis-py types a sync reply as "Awaitable | Any"


def lane_lag(client: redis.Redis, stream: str) -> tuple[int, int]:
    """(pending, undelivered) of one lane: read-but-unacknowledged, and not yet read by anyone."""
    try:
        groups = cast("list[dict[str, Any]]", client.xinfo_groups(stream))   # redis-py types replies loosely
    except redis.ResponseError:
        return 0, 0
    group = next((g for g in groups if text(g["name"]) == GROUP), None)
    if group is None:
        return 0, cast(int, client.xlen(stream))
    undelivered = len(cast(list, client.xrange(stream, min="(" + text(group["last-delivered-id"]), max="+",
                                               count=LAG_COUNT_CAP)))
    return int(group["pending"]), undelivered


def snapshot(client: redis.Redis, keys: Keys, lanes: int) -> Snapshot:
    """Read the whole picture in a handful of round trips per lane."""
    snap = Snapshot()
    now = time.time()
    for worker_id, beat_ms in cast("list[tuple[bytes, float]]", client.zrange(keys.workers, 0, -1, withscores=True)):
        fields = cast("dict[bytes, bytes]", client.hgetall(keys.worker(text(worker_id))))
        info: dict[str, Any] = {text(k): text(v) for k, v in fields.items()}
        info.update(id=text(worker_id), beat_age_s=round(now - beat_ms / 1000, 1))
        snap.workers.append(info)
    lease = _get(client, keys.poll_lease)
    snap.poll_holder = text(lease) if lease else None
    offset = _get(client, keys.poll_offset)
    snap.poll_offset = int(offset) if offset else None
    last = _get(client, keys.poll_last)
    snap.last_poll_age_s = round(now - int(last) / 1000, 1) if last else None
    for n in range(lanes):
        pending, undelivered = lane_lag(client, keys.lane(n))
        owner = _get(client, keys.lane_owner(n))
        snap.lanes.append((n, pending, undelivered, text(owner) if owner else None))
    snap.dead_letters = int(_get(client, keys.dead_count) or 0)
    snap.sender = totals(snap.workers)
    snap.blocked_chats = cast(int, client.scard(keys.send_blocked))
    generation = _get(client, keys.generation)
    snap.data_losses = losses(text(generation) if generation else None)
    snap.faults = {text(k): int(v) for k, v in cast("dict[bytes, bytes]", client.hgetall(keys.faults)).items()}
    raw_error = _get(client, keys.poll_error)
    snap.poll_error = json.loads(raw_error) if raw_error else None
    return snap


def bots_in(client: redis.Redis, limit: int = 20) -> list[str]:
    """Bot ids with a worker registry in this Redis (to name them when the wrong bot is asked for)."""
    found = {text(key).split(":")[1] for key in client.scan_iter(match="botrunner:*:{workers}", count=1000)}
    return sorted(found)[:limit]


def webhook_state(api_url: str, token: str, timeout: float = 5.0) -> dict[str, Any]:
    """getWebhookInfo's result, or {"error": one line} when the Bot API cannot be asked."""
    try:
        reply = httpx.get(f"{api_url.rstrip('/')}/bot{token}/getWebhookInfo", timeout=timeout).json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}"}
    if not reply.get("ok"):
        return {"error": f"{reply.get('error_code')} {reply.get('description')}"}
    return dict(reply["result"])


def webhook_line(info: dict[str, Any] | None) -> str:
    """One line: no webhook (good for long polling), a webhook that blocks getUpdates, or unknown."""
    if info is None:
        return "Webhook: not asked"
    if "error" in info:
        return f"Webhook: unknown (getWebhookInfo failed: {info['error']})"
    if not info.get("url"):
        return "Webhook: none (long polling works; USE_WEBHOOK=true needs one: `botrunner webhook set`)"
    last = f", last error: {info['last_error_message']}" if info.get("last_error_message") else ""
    return (f"Webhook: set to {info['url']} ({info.get('pending_update_count', 0)} pending{last}); with "
            "USE_WEBHOOK=true that is how updates arrive; for long polling getUpdates answers 409 while it is set: "
            "`botrunner webhook delete` (pending updates are kept)")


def poll_error_line(error: dict[str, Any] | None, now: float | None = None) -> str:
    if not error:
        return "Last poll error: none recorded"
    age = ((now or time.time()) * 1000 - int(error.get("at", 0))) / 1000
    hint = {401: " (the token was rejected: check BOT_TOKEN)",
            409: " (another getUpdates consumer or a webhook on this token)"}.get(int(error.get("code", 0)), "")
    return f"Last poll error: {error.get('code')} {error.get('description')}{hint}, {age:.0f}s ago"


def render(snap: Snapshot) -> list[str]:
    """Human-readable lines."""
    lines = [f"Bot: {snap.bot}", f"Redis: {snap.source}", f"Workers: {len(snap.workers)}"]
    for w in snap.workers:
        age = time.time() - float(w.get("started", time.time()))
        lanes = [x for x in w.get("lanes", "").split(",") if x]
        lines.append(f"  {w['id']:<40} host={w.get('host', '?')} pid={w.get('pid', '?')} age={age:.0f}s "
                     f"rss={w.get('rss_mb', '?')}MB lanes={len(lanes)} poller={'yes' if w.get('poller') == '1' else 'no'}"
                     f" last beat {w['beat_age_s']}s ago"
                     + (f" handlers busy {w['handlers_busy']}, hung {w.get('handlers_hung', 0)}"
                        if "handlers_busy" in w else ""))
    lines.append(f"Poll lease: {snap.poll_holder or 'free (nobody polls)'}")
    lines.append(f"Next offset: {snap.poll_offset if snap.poll_offset is not None else 'none yet'}")
    lines.append("Last poll: " + (f"{snap.last_poll_age_s}s ago" if snap.last_poll_age_s is not None else "never"))
    lines.append(poll_error_line(snap.poll_error))
    lines.append(webhook_line(snap.webhook))
    busy = [lane for lane in snap.lanes if lane[1] or lane[2]]
    total_pending = sum(lane[1] for lane in snap.lanes)
    total_undelivered = sum(lane[2] for lane in snap.lanes)
    lines.append(f"Lanes: {len(snap.lanes)}, owned {sum(1 for lane in snap.lanes if lane[3])}; "
                 f"pending {total_pending}, undelivered {total_undelivered}")
    for n, pending, undelivered, owner in busy:
        lines.append(f"  lane {n:>4}: pending {pending:>6} undelivered {undelivered:>6} owner {owner or '-'}")
    lines.append(f"Dead letters: {snap.dead_letters}")
    m = snap.sender
    if m:
        lines.append(f"Sender (live workers, since start): sent {m['sent']}, failed {m['failed']}, retries "
                     f"{m['retries']}, 429s chat/group/global {m['rate_limited_chat']}/{m['rate_limited_group']}/"
                     f"{m['rate_limited_global']}, skipped blocked {m['skipped_blocked']} / already sent "
                     f"{m['skipped_journal']}, waited {m['waited_ms'] / 1000:.1f}s")
    lines.append(f"Chats that blocked the bot: {snap.blocked_chats}")
    if snap.data_losses:
        lines.append(f"REDIS DATA LOSSES DETECTED: {snap.data_losses} (updates stored but unread then are gone; "
                     "check the Redis persistence settings)")
    if snap.faults:
        lines.append("Faults survived: " + ", ".join(f"{k} {v}" for k, v in sorted(snap.faults.items())))
    return lines
