"""Keeps this worker's lanes in step with its fair share, and reads them into the chat queues.

The keeper (every lane-lease TTL / 3): heartbeat, renew held leases, compute the assignment over
live workers, hand over lanes now assigned elsewhere (stop reading, drop their queued jobs, wait
for their running jobs, release), and take free lanes assigned here (claim the previous owner's
pending entries first, then start reading). The reader: one blocking XREADGROUP over every lane
this worker reads, bounded by the room left in the chat queues; on a Redis Cluster one blocking
XREADGROUP per lane (a command cannot span slots), each lane in a task of its own.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from loguru import logger
from redis.asyncio.cluster import RedisCluster
from redis.typing import KeyT, StreamIdT

from botrunner.intake.store import routing_id
from botrunner.lanes.chat_order import ChatQueues, Job
from botrunner.lanes.generation import Generation
from botrunner.lanes.leases import LaneLeases, assign
from botrunner.lanes.membership import Registry
from botrunner.lease import renew_interval_s
from botrunner.metrics import record
from botrunner.redis_keys import GROUP
from botrunner.redis_replies import text

TRIM_EVERY_S = 10.0


def ordering_chat(fields: dict[Any, Any]) -> int | None:
    """Ordering key of an entry: its chat (else user) id; entries with neither are ordered by lane."""
    try:
        return routing_id(json.loads(fields[b"update"]))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


class LaneReader:
    """Lane ownership and reading for one worker."""

    def __init__(self, client: aioredis.Redis, leases: LaneLeases, registry: Registry, queues: ChatQueues,
                 is_poller: Callable[[], bool], health: Callable[[], dict] = dict) -> None:
        self.client = client
        self.leases = leases
        self.registry = registry
        self.queues = queues
        self.is_poller = is_poller
        self.health = health                     # extra registry fields (handler threads busy / hung)
        self.reading: set[int] = set()           # held lanes whose pending entries are claimed
        self.handing_over: set[int] = set()
        self.in_read: set[int] = set()           # lanes named in the XREADGROUP now in flight
        self.stopping = asyncio.Event()
        self.draining = False                    # renew only: no reading, no taking lanes
        self._last_trim = time.monotonic()
        self.generation = Generation(client, leases.keys)
        self._turn = 0                           # which lane a short read starts with

    async def boot(self) -> None:
        """Before the first read: every lane's consumer group exists; remember the data generation."""
        await self.leases.ensure_groups()
        await self.generation.check()

    def lapsed(self, lane: int) -> None:
        """A job of `lane` was skipped because the lease had lapsed locally (a stall): hand the lane back.

        The lease may be renewed meanwhile, but the skipped entries stay pending under this worker,
        which never reads them again; giving the lane back and taking it anew claims them, in order."""
        if lane in self.reading:
            logger.warning("Lane {}: the lease lapsed locally (event loop stalled?); handing it back so its "
                           "skipped updates are claimed again in order", lane)
            self.hand_over(lane)

    async def _recover_if_lost(self) -> bool:
        """After a Redis data loss: recreate the groups and take back the lanes held (their leases vanished)."""
        if not await self.generation.check():
            return False
        await self.leases.ensure_groups()
        for lane in self.leases.held:
            await self.leases.acquire(lane)
        return True

    # --- keeper ---
    async def keep(self, on_beat: Callable[[], None] = lambda: None) -> None:
        """Until stop(): heartbeat, renew, rebalance."""
        interval = renew_interval_s(self.leases.ttl_ms)
        while not self.stopping.is_set():
            try:
                await self.tick()
                on_beat()
            except Exception as exc:   # Redis unreachable: leases lapse locally; keep trying
                logger.warning("Lane keeper: {!r}", exc)
                record.redis_error("lanes", exc)
            try:
                await asyncio.wait_for(self.stopping.wait(), interval)
            except asyncio.TimeoutError:
                pass

    async def tick(self) -> None:
        """One keeper round."""
        await self.registry.beat(self.leases.held, self.is_poller(), self.health())
        await self._recover_if_lost()
        lost = await self.leases.renew()
        if lost and await self._recover_if_lost():    # the data went between the check and the renewal
            lost = [lane for lane in lost if not await self.leases.acquire(lane)]
        for lane in lost:
            self._lost(lane)
        for lane in sorted(self.reading):
            if not self.leases.is_valid(lane):   # renewal could not run in time: treat as lost
                self._lost(lane)
        if self.draining:
            return
        mine = {lane for lane, w in assign(self.leases.lanes, await self.registry.live()).items()
                if w == self.leases.worker_id}
        for lane in sorted(self.reading - mine):
            self.hand_over(lane)
        for lane in sorted(mine - self.reading - self.handing_over):
            if await self.leases.acquire(lane):
                await self._start_reading(lane)
        if time.monotonic() - self._last_trim > TRIM_EVERY_S:
            self._last_trim = time.monotonic()
            for lane in sorted(self.reading):
                self._submit(lane, await self.leases.claim_strays(lane))
                await self.leases.trim(lane)

    async def _start_reading(self, lane: int) -> None:
        # pending entries first, so the chat order from the previous owner carries over
        self._submit(lane, await self.leases.claim_pending(lane))
        self.reading.add(lane)

    def _submit(self, lane: int, entries: list) -> None:
        for entry_id, fields in entries:
            self.queues.submit(Job(lane, (lane, ordering_chat(fields)), text(entry_id), fields))

    def _lost(self, lane: int) -> None:
        logger.warning("Lost the lease on lane {}; its queued updates stay pending for the next owner", lane)
        self.leases.forget(lane)
        self.hand_over(lane)

    def hand_over(self, lane: int) -> None:
        """Stop reading a lane and release it once its running updates are finished."""
        self.reading.discard(lane)
        self.handing_over.add(lane)
        self.queues.drop_lane(lane)
        asyncio.create_task(self._release_when_idle(lane))

    async def _release_when_idle(self, lane: int) -> None:
        await self.queues.wait_lane_idle(lane)
        while lane in self.in_read:       # entries that read delivers stay pending under us: release after
            await asyncio.sleep(0.05)
        self.handing_over.discard(lane)
        try:
            await self.leases.release(lane)
        except Exception as exc:
            logger.warning("Could not release lane {} ({!r}); it expires by TTL", lane, exc)

    # --- reader ---
    async def read(self) -> None:
        """Until stop(): read new entries of the lanes this worker reads into the chat queues."""
        if isinstance(self.client, RedisCluster):
            await self._read_per_lane()
            return
        while not self.stopping.is_set() and not self.draining:
            await self.queues.wait_for_room()
            lanes = sorted(self.reading)         # after the wait: a lane released meanwhile is not read
            if not lanes:
                await asyncio.sleep(0.1)
                continue
            lanes, count = self.next_read(lanes, self.queues.free)
            names = {self.leases.keys.lane(n): n for n in lanes}
            streams: dict[KeyT, StreamIdT] = {name: ">" for name in names}
            self.in_read = set(lanes)
            try:
                reply = await self.client.xreadgroup(GROUP, self.leases.worker_id, streams, count=count, block=500)
            except aioredis.ResponseError as exc:
                if "NOGROUP" in str(exc):         # the groups went with the data: recreate, read on
                    await self._on_nogroup(exc)
                else:
                    logger.warning("Reading lanes failed ({!r}); retrying", exc)
                    await asyncio.sleep(1.0)
                continue
            except Exception as exc:
                logger.warning("Reading lanes failed ({!r}); retrying", exc)
                record.redis_error("lanes", exc)
                await asyncio.sleep(1.0)
                continue
            finally:
                self.in_read = set()
            for stream, entries in reply or []:
                lane = names.get(text(stream), -1)
                if lane in self.reading:         # entries of a lane being handed over stay pending
                    self._submit(lane, entries)

    async def _on_nogroup(self, exc: Exception) -> None:
        try:
            if not await self._recover_if_lost():
                logger.error("Reading lanes: {!r} without a data loss; recreating the consumer groups", exc)
                await self.leases.ensure_groups()
        except Exception as again:
            logger.warning("Recreating the consumer groups failed ({!r}); retrying", again)
            await asyncio.sleep(1.0)
    # --- reader on a Redis Cluster: XREADGROUP cannot span slots, and every lane has its own slot ---
    async def _read_per_lane(self) -> None:
        """One blocking XREADGROUP per lane read, each lane in a task of its own (lanes on every node at once)."""
        tasks: dict[int, asyncio.Task] = {}
        while not self.stopping.is_set() and not self.draining:
            for lane in sorted(self.reading - tasks.keys()):
                tasks[lane] = asyncio.create_task(self._read_lane(lane))
            for lane in [lane for lane, task in tasks.items() if task.done()]:
                del tasks[lane]
            try:
                await asyncio.wait_for(self.stopping.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
        await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _read_lane(self, lane: int) -> None:
        stream = self.leases.keys.lane(lane)
        while lane in self.reading and not self.stopping.is_set() and not self.draining:
            await self.queues.wait_for_room()
            if lane not in self.reading:
                return
            count = max(1, min(100, self.queues.free // max(1, len(self.reading))))
            self.in_read.add(lane)
            try:
                reply = await self.client.xreadgroup(GROUP, self.leases.worker_id, {stream: ">"}, count=count,
                                                     block=500)
            except aioredis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self._on_nogroup(exc)
                else:
                    logger.warning("Reading lane {} failed ({!r}); retrying", lane, exc)
                    await asyncio.sleep(1.0)
                continue
            except Exception as exc:
                logger.warning("Reading lane {} failed ({!r}); retrying", lane, exc)
                record.redis_error("lanes", exc)
                await asyncio.sleep(1.0)
                continue
            finally:
                self.in_read.discard(lane)
            for _, entries in reply or []:
                if lane in self.reading:         # entries of a lane being handed over stay pending
                    self._submit(lane, entries)

    def next_read(self, lanes: list[int], free: int) -> tuple[list[int], int]:
        """(lanes, COUNT) for the next XREADGROUP: COUNT is per stream, so at most `free` entries in all;
        with room for fewer entries than lanes, one entry from each of `free` lanes, taking turns."""
        if free < len(lanes):
            start = self._turn % len(lanes)
            self._turn += free
            return (lanes[start:] + lanes[:start])[:max(1, free)], 1
        return lanes, min(100, free // len(lanes))

    def stop_reading(self) -> None:
        """Drain: read nothing new and take no lane; keep renewing what is held."""
        self.draining = True

    def stop(self) -> None:
        self.stopping.set()

    async def release_all(self) -> None:
        """At the end of a drain: give every lane back so the others take over at once."""
        for lane in self.leases.held:
            try:
                await self.leases.release(lane)
            except Exception as exc:
                logger.warning("Could not release lane {} ({!r}); it expires by TTL", lane, exc)
        self.reading.clear()
