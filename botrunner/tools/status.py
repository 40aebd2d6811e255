"""`botrunner status`: the pipeline as Redis sees it, from any host (reads Redis only)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

from botrunner.lanes.generation import losses
from botrunner.redis_keys import GROUP, Keys
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


def _s(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def lane_lag(client: redis.Redis, stream: str) -> tuple[int, int]:
    """(pending, undelivered) of one lane: read-but-unacknowledged, and not yet read by anyone."""
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return 0, 0
    group = next((g for g in groups if _s(g["name"]) == GROUP), None)
    if group is None:
        return 0, client.xlen(stream)
    undelivered = len(client.xrange(stream, min="(" + _s(group["last-delivered-id"]), max="+",
                                    count=LAG_COUNT_CAP))
    return int(group["pending"]), undelivered


def snapshot(client: redis.Redis, keys: Keys, lanes: int) -> Snapshot:
    """Read the whole picture in a handful of round trips per lane."""
    snap = Snapshot()
    now = time.time()
    for worker_id, beat_ms in client.zrange(keys.workers, 0, -1, withscores=True):
        info = {_s(k): _s(v) for k, v in client.hgetall(keys.worker(_s(worker_id))).items()}
        info.update(id=_s(worker_id), beat_age_s=round(now - beat_ms / 1000, 1))
        snap.workers.append(info)
    lease = client.get(keys.poll_lease)
    snap.poll_holder = _s(lease) if lease else None
    offset = client.get(keys.poll_offset)
    snap.poll_offset = int(offset) if offset else None
    last = client.get(keys.poll_last)
    snap.last_poll_age_s = round(now - int(last) / 1000, 1) if last else None
    for n in range(lanes):
        pending, undelivered = lane_lag(client, keys.lane(n))
        owner = client.get(keys.lane_owner(n))
        snap.lanes.append((n, pending, undelivered, _s(owner) if owner else None))
    snap.dead_letters = int(client.get(keys.dead_count) or 0)
    snap.sender = totals(snap.workers)
    snap.blocked_chats = int(client.scard(keys.send_blocked))
    generation = client.get(keys.generation)
    snap.data_losses = losses(_s(generation) if generation else None)
    snap.faults = {_s(k): int(v) for k, v in client.hgetall(keys.faults).items()}
    return snap


def render(snap: Snapshot) -> list[str]:
    """Human-readable lines."""
    lines = [f"Workers: {len(snap.workers)}"]
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
