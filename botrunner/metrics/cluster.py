"""Cluster-wide pipeline state read from Redis at scrape time: lanes, the poll, dead letters, Redis itself.

This state lives in Redis, not in any process, so it is read when Prometheus asks (one script
and one pipeline per scrape), never per update. Every host reports the same values: aggregate
them with max() over instances. The same snapshot answers /readyz.
Entry ids are Redis' own clock in ms; ages are computed against Redis TIME, so hosts' clocks
do not matter.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from loguru import logger
from prometheus_client.core import GaugeMetricFamily

from botrunner.redis_keys import GROUP, Keys
from botrunner.redis_scripts import pipelined

BACKLOG_CAP = 1000       # undelivered entries counted per lane and scrape, at most (bounds the script's time)

# KEYS: lane streams (one per call: each has its own slot).  ARGV: group, backlog cap.
# Per lane: {pending, backlog, oldest unacked id or ''},
# then Redis TIME in ms as the last element.
LANES_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local pending, backlog, oldest = 0, 0, ''
  if redis.call('EXISTS', key) == 1 then
    local last = nil
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
      local f = {}
      for j = 1, #g, 2 do f[g[j]] = g[j + 1] end
      if f['name'] == ARGV[1] then last = f['last-delivered-id'] end
    end
    if last then
      local summary = redis.call('XPENDING', key, ARGV[1])
      pending = summary[1]
      if pending > 0 then oldest = summary[2] end
      local undelivered = redis.call('XRANGE', key, '(' .. last, '+', 'COUNT', ARGV[2])
      backlog = #undelivered
      if oldest == '' and backlog > 0 then oldest = undelivered[1][1] end
    end
  end
  out[#out + 1] = {pending, backlog, oldest}
end
local t = redis.call('TIME')
out[#out + 1] = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return out
"""


@dataclass
class Snapshot:
    """What the scrape and /readyz know about the cluster; `redis_up` False leaves the rest unknown."""

    redis_up: bool = False
    ping_s: float = 0.0
    pipeline_known: bool = False        # False: Redis answers PING but refused the reads below (logged)
    lanes: int = 0
    pending: int = 0
    backlog: int = 0
    oldest_age_s: float = 0.0
    unowned_lanes: int = 0
    poll_age_s: float | None = None     # None: no poll has ever succeeded
    poll_lease_active: bool = False
    dead_letter_entries: int = 0
    workers: int = 0


def _ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-", 1)[0])


async def read(client: aioredis.Redis, keys: Keys, lanes: int) -> Snapshot:
    """One snapshot; raises when Redis cannot be reached (the caller reports redis_up 0). A reachable Redis
    that refuses the pipeline reads (a command it lacks) still counts as up: logged, left out."""
    redis: Any = client        # redis-py's stubs type async replies as "Awaitable | value"
    snap = Snapshot(lanes=lanes)
    started = time.perf_counter()
    await redis.ping()
    snap.ping_s = time.perf_counter() - started
    snap.redis_up = True
    try:
        await _pipeline_state(redis, keys, snap)
    except aioredis.ResponseError as exc:
        logger.warning("Metrics: Redis refused the pipeline state reads ({}); lane and poll gauges left out", exc)
    return snap


async def _pipeline_state(redis: Any, keys: Keys, snap: Snapshot) -> None:
    lanes = snap.lanes
    # one call per lane (each stream has its lane's slot), all in one pipeline: one round trip per node
    script = redis.register_script(LANES_SCRIPT)
    replies = await pipelined(redis, [(script, [keys.lane(n)], [GROUP, str(BACKLOG_CAP)]) for n in range(lanes)])
    now_ms = max((int(reply[-1]) for reply in replies), default=0)
    for pending, backlog, oldest in (reply[0] for reply in replies):
        snap.pending += int(pending)
        snap.backlog += int(backlog)
        if oldest:
            snap.oldest_age_s = max(snap.oldest_age_s, max(0, now_ms - _ms(oldest)) / 1000)
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(lanes):
            pipe.exists(keys.lane_owner(n))
        pipe.get(keys.poll_last).exists(keys.poll_lease).xlen(keys.dead).zcard(keys.workers)
        replies = await pipe.execute()
    owned, (last, lease, dead, workers) = replies[:lanes], replies[lanes:]
    snap.unowned_lanes = sum(1 for held in owned if not held)
    snap.poll_age_s = max(0.0, now_ms - int(last)) / 1000 if last else None
    snap.poll_lease_active, snap.dead_letter_entries, snap.workers = bool(lease), int(dead), int(workers)
    snap.pipeline_known = True


class SnapshotCollector:
    """Exposes one Snapshot as gauges (a collector for one scrape's registry). In webhook mode the poll
    gauges are left out, so the poll alerts have nothing to fire on."""

    def __init__(self, snap: Snapshot, polling: bool = True) -> None:
        self.snap = snap
        self.polling = polling

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self.snap
        yield _gauge("botrunner_redis_up", "1 when the scraped worker could read Redis.", int(s.redis_up))
        if not s.redis_up:
            return
        yield _gauge("botrunner_redis_ping_seconds", "PING round trip from the scraped worker.", s.ping_s)
        if not s.pipeline_known:
            return
        yield _gauge("botrunner_lanes", "Lanes (LANES).", s.lanes)
        yield _gauge("botrunner_lane_pending_updates", "Updates delivered to a worker and not yet acknowledged, "
                     "all lanes.", s.pending)
        yield _gauge("botrunner_lane_backlog_updates", f"Updates in lanes not yet read by a worker (counted up to "
                     f"{BACKLOG_CAP} per lane).", s.backlog)
        yield _gauge("botrunner_lane_oldest_pending_age_seconds", "Age of the oldest update not yet acknowledged, "
                     "over all lanes (0: none waiting).", s.oldest_age_s)
        yield _gauge("botrunner_lanes_unowned", "Lanes no worker holds a lease on.", s.unowned_lanes)
        if self.polling and s.poll_age_s is not None:
            yield _gauge("botrunner_poll_last_success_age_seconds", "Seconds since the last getUpdates answer "
                         "was stored by any worker.", s.poll_age_s)
        if self.polling:
            yield _gauge("botrunner_poll_lease_active", "1 while some worker holds the poll lease.",
                         int(s.poll_lease_active))
        yield _gauge("botrunner_dead_letter_stream_entries", "Entries in the dead-letter stream.",
                     s.dead_letter_entries)
        yield _gauge("botrunner_workers_registered", "Workers registered in Redis, all hosts.", s.workers)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
