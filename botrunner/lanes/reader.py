"""Keeps this worker's lanes in step with its fair share, and reads them into the chat queues.

The keeper first joins the registry with its cohort (the workers its supervisor started with it:
they join together, so the assignment is agreed before anyone takes a lane). Then, every lane-lease
TTL / 3: heartbeat, renew held leases, and rebalance; and between rounds it rebalances at once on
every lane event (a join, a leave, a release). Rebalance: compute the assignment over live
workers, hand over lanes now assigned elsewhere (stop reading, drop their queued jobs, wait for
their running jobs and the read in flight, release: announced), and take free lanes assigned here
(claim the previous owner's pending entries first, then start reading). The reader: one blocking
XREADGROUP over every lane this worker reads, bounded by the room left in the chat queues (with room
for fewer entries than lanes, a read of some lanes in turn that does not block); on a Redis
Cluster pipelined rounds of one XREADGROUP per lane, and a blocking one per idle lane
(botrunner.lanes.cluster_reads).

Per-chat order across a lost read reply: a read that fails (a cut connection, a timeout, a failover)
may have been delivered by Redis, its entries now pending under this worker but never seen here.
Reading on with ">" would handle later entries of the same chats before them, so every lane the
failed read named is handed over at once and taken anew (claim_pending: oldest first). The read goes
through a client that never retries a command by itself (a silent retry would hide the lost reply).
As a safety net the keeper's sweep hands over a lane with entries pending under this worker for a
lease TTL that it does not hold in memory (`ChatQueues.held`).
What a lane hand-over or the processor lets go of is kept (botrunner.lanes.salvage) until the
next generation check: after a Redis data loss it is the only copy, and is handled again, in order.
The registry goes with the data, so for a keeper round and a half after a loss nobody rebalances:
each worker takes back its own lanes, and none takes another's before that one has beaten again.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from loguru import logger
from redis.asyncio.cluster import RedisCluster
from redis.typing import KeyT, StreamIdT

from botrunner import json_codec
from botrunner.intake.store import routing_id
from botrunner.lanes.chat_order import ChatQueues, Job
from botrunner.lanes.cluster_reads import ClusterReads
from botrunner.lanes.events import LaneEvents
from botrunner.lanes.generation import Generation
from botrunner.lanes.leases import LaneLeases, assign
from botrunner.lanes.membership import Cohort, Registry
from botrunner.lanes.salvage import Salvage
from botrunner.lease import renew_interval_s
from botrunner.metrics import record
from botrunner.redis_keys import GROUP
from botrunner.redis_replies import text

TRIM_EVERY_S = 10.0
READ_RETURN_S = 3.0          # longest a drain waits for the XREADGROUP in flight (it blocks 0.5 s at most)
REGISTRY_REFILL_ROUNDS = 1.5  # keeper rounds after a data loss by which every live worker has beaten again


def decoded(fields: dict[Any, Any]) -> tuple[int | None, Any]:
    """(ordering key, decoded update) of an entry: its chat (else user) id, None for neither (ordered by
    lane) or for an entry that does not decode (the processor dead-letters it). Decoded once, here."""
    try:
        data = json_codec.loads(fields[b"update"])
    except (KeyError, ValueError, TypeError):
        return None, None
    try:
        return routing_id(data), data
    except (TypeError, AttributeError):
        return None, data


def ordering_chat(fields: dict[Any, Any]) -> int | None:
    """Ordering key of an entry: its chat (else user) id; entries with neither are ordered by lane."""
    return decoded(fields)[0]


class LaneReader:
    """Lane ownership and reading for one worker."""

    def __init__(self, client: aioredis.Redis, leases: LaneLeases, registry: Registry, queues: ChatQueues,
                 is_poller: Callable[[], bool], health: Callable[[], dict] = dict,
                 cohort: Cohort | None = None, settle_s: float = 5.0,
                 read_client: aioredis.Redis | None = None) -> None:
        self.client = client
        self.read_client = read_client or client   # XREADGROUP only: must not retry a cut read by itself
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
        self.generation = Generation(client, leases.keys, leases.lanes)
        self._turn = 0                           # which lane a short read starts with
        self.events = LaneEvents(client, leases.keys)
        self.cohort = cohort or Cohort(leases.worker_id)
        self.settle_s = settle_s                 # longest wait for the rest of the cohort (LANE_SETTLE_MS)
        self.settled = asyncio.Event()           # joined the registry (or stopping): lanes may be taken, polled
        self.left = False                        # left the registry (drain): beat no more
        self.salvage = Salvage()                 # jobs let go of until Redis shows it still has them
        queues.on_drop = self.salvage.keep_all
        self.registry_refills_until = 0.0        # after a data loss: no rebalance before every worker beat again

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
        """After a Redis data loss: recreate the groups, take back the lanes held (their leases vanished)
        and handle again what this worker had read and let go of (lanes.salvage: the only copy left)."""
        mark = self.salvage.mark()
        lost = await self.generation.check()     # on a cluster: only the lanes of the master that lost it
        self.salvage.forget_until(mark, lost)    # still pending in Redis: their lanes' owners claim them
        if not lost:
            return False
        # the registry went with the data: whoever is back first would see itself alone and take the lanes of
        # the others, whose leases went too, before they take them back with the updates they hold in memory
        self.registry_refills_until = time.monotonic() + REGISTRY_REFILL_ROUNDS * renew_interval_s(self.leases.ttl_ms)
        await self.leases.ensure_groups()
        for lane in [lane for lane in self.leases.held if lane in lost]:
            await self.leases.acquire(lane)
        for lane in [lane for lane in self.salvage.lanes() if lane in lost]:
            await self._resubmit(lane)
        return True

    async def _resubmit(self, lane: int) -> None:
        """Data loss: the lane's let-go jobs, oldest first, ahead of its queued ones (if it is taken back)."""
        if lane not in self.leases.held and not await self.leases.acquire(lane):
            logger.error("Lane {}: {} update(s) read before the data loss are lost: another worker took the "
                         "lane first", lane, len(self.salvage.take(lane)))
            return
        self.queues.drop_lane(lane)              # into the salvage: re-queued below in stream order
        jobs = self.salvage.take(lane)
        self.handing_over.discard(lane)          # a pending release must not give the retaken lane away
        self._submit_jobs(jobs)
        self.reading.add(lane)
        logger.warning("Lane {}: handling again {} update(s) read before the data loss", lane, len(jobs))

    # --- keeper ---
    async def keep(self, on_beat: Callable[[], None] = lambda: None, on_joined: Callable[[], None] = lambda: None) -> None:
        """Until stop(): join with the cohort, then heartbeat and renew every round, rebalance on every event."""
        interval = renew_interval_s(self.leases.ttl_ms)
        listener = asyncio.create_task(self.events.listen(self.stopping))
        try:
            await self._join()
            on_joined()
            due = 0.0
            while not self.stopping.is_set():
                full = time.monotonic() >= due
                if full:
                    due = time.monotonic() + interval
                try:
                    await (self.tick() if full else self.rebalance())
                    if full:
                        on_beat()
                except Exception as exc:   # Redis unreachable: leases lapse locally; keep trying
                    logger.warning("Lane keeper: {!r}", exc)
                    record.redis_error("lanes", exc)
                await self.events.wait(due - time.monotonic())
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _join(self) -> None:
        """Join the registry together with the cohort: wait (up to settle_s) until all of it enrolled."""
        deadline = time.monotonic() + self.settle_s
        try:      # subscribed first, so the cohort's "joined" is not missed (polled as well, twice a second)
            await asyncio.wait_for(self.events.subscribed.wait(), self.settle_s)
        except asyncio.TimeoutError:
            pass
        while not self.stopping.is_set() and not self.left:
            try:
                if await self.registry.enrol(self.cohort):
                    break
                while time.monotonic() < deadline and not self.stopping.is_set() and not self.left:
                    await self.events.wait(min(0.5, deadline - time.monotonic()))
                    if await self.registry.cohort_complete(self.cohort):
                        break
                else:
                    if not self.left and not self.stopping.is_set():
                        logger.warning("Joining without the rest of the {} workers started with this one "
                                       "(LANE_SETTLE_MS passed); they take their lanes when they join", self.cohort.size)
                        await self.registry.join_alone()
                break
            except Exception as exc:
                logger.warning("Joining the worker registry: {!r}; retrying", exc)
                record.redis_error("lanes", exc)
                await asyncio.sleep(1.0)
        if self.left:          # stopped while joining: whatever the cohort registered for us meanwhile goes
            try:
                await self.registry.leave(self.cohort)
            except Exception as exc:
                logger.warning("Could not leave the worker registry ({!r}); the entry goes stale", exc)
        self.settled.set()

    async def tick(self) -> None:
        """One keeper round: heartbeat, renew, rebalance, now and then sweep and trim."""
        if not self.left:
            await self.registry.beat(self.leases.held, self.is_poller(), self.health())
        await self._recover_if_lost()
        lost = await self.leases.renew()
        if lost and await self._recover_if_lost():    # the data went between the check and the renewal
            lost = [lane for lane in lost if not await self.leases.acquire(lane)]
        for lane in lost:
            self.lost(lane)
        for lane in sorted(self.reading):
            if not self.leases.is_valid(lane):   # renewal could not run in time: treat as lost
                self.lost(lane)
        if self.draining:
            return
        await self.rebalance()
        if time.monotonic() - self._last_trim > TRIM_EVERY_S:
            self._last_trim = time.monotonic()
            for lane in sorted(self.reading):
                self._submit(lane, await self.leases.claim_strays(lane))
                await self._hand_over_if_stranded(lane)
                await self.leases.trim(lane)

    async def _hand_over_if_stranded(self, lane: int) -> None:
        stranded = await self.leases.stranded(lane, self.queues.held)
        if stranded and lane in self.reading:
            logger.warning("Lane {}: {} update(s) pending under this worker were never seen by it (a lost read "
                           "reply, {}...); taking the lane anew to handle them in order", lane, len(stranded),
                           stranded[0])
            self.hand_over(lane)

    def _read_failed(self, lanes: list[int]) -> None:
        """A read of `lanes` failed: its reply may be lost after Redis delivered it; take them anew."""
        self.in_read -= set(lanes)            # it returned: nothing more is delivered by it
        again = [lane for lane in lanes if lane in self.reading]
        if again:
            logger.warning("Lanes {}: the read failed, so entries it delivered may be pending unseen; taking "
                           "them anew (pending entries first) to keep each chat's order", again)
        for lane in again:
            self.hand_over(lane)

    async def rebalance(self) -> None:
        """Hand over the lanes now assigned elsewhere; take the free lanes assigned here. Not within a keeper
        round and a half of a data loss: the registry lists only the workers that beat since."""
        if self.draining or time.monotonic() < self.registry_refills_until:
            return
        live = await self.registry.live()
        if self.draining:        # the drain began while the registry was read: it releases, takes nothing
            return
        mine = {lane for lane, w in assign(self.leases.lanes, live).items() if w == self.leases.worker_id}
        for lane in sorted(self.reading - mine):
            self.hand_over(lane)
        # all at once, not lane after lane: a joining worker's last lane waits one round trip, not sixty
        wanted = sorted(mine - self.reading - self.handing_over)
        took = await asyncio.gather(*(self.leases.acquire(lane) for lane in wanted), return_exceptions=True)
        if self.draining:        # ... or while the leases were taken: they go straight back
            await self._give_back([lane for lane, ok in zip(wanted, took) if ok is True])
            return
        claimed = await asyncio.gather(*(self._start_reading(lane) for lane, ok in zip(wanted, took) if ok is True),
                                       return_exceptions=True)
        for failure in [r for r in (*took, *claimed) if isinstance(r, BaseException)][:1]:
            raise failure         # the lanes not taken are tried again on the next event or round

    async def _give_back(self, lanes: list[int]) -> None:
        for lane in lanes:
            try:
                await self.leases.release(lane)
            except Exception as exc:
                logger.warning("Could not release lane {} ({!r}); it expires by TTL", lane, exc)

    async def _start_reading(self, lane: int) -> None:
        # pending entries first, so the chat order from the previous owner carries over
        self._submit(lane, await self.leases.claim_pending(lane))
        self.reading.add(lane)
        logger.debug("Lane {}: taken", lane)

    def _submit(self, lane: int, entries: list) -> None:
        for entry_id, fields in entries:
            chat, data = decoded(fields)
            self.queues.submit(Job(lane, (lane, chat), text(entry_id), fields, data))

    def _submit_jobs(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.queues.submit(job)

    def lost(self, lane: int) -> None:
        """The lease on `lane` is no longer ours (a renewal found another owner, or a script fenced us out):
        stop at once, so none of its queued updates runs here beside the new owner's handling of them."""
        self.leases.forget(lane)
        if lane in self.handing_over:
            return                        # on its way out already (several fenced-out updates of one lane)
        logger.warning("Lost the lease on lane {}; its queued updates stay pending for the next owner", lane)
        self.hand_over(lane)

    def hand_over(self, lane: int) -> None:
        """Stop reading a lane and release it once its running updates are finished."""
        logger.debug("Lane {}: handing over", lane)
        self.reading.discard(lane)
        self.handing_over.add(lane)
        self.queues.drop_lane(lane)
        asyncio.create_task(self._release_when_idle(lane))

    async def _release_when_idle(self, lane: int) -> None:
        """Release once the lane's running updates are finished and no read in flight names it (announced)."""
        await self.queues.wait_lane_idle(lane)
        while lane in self.in_read:       # entries that read delivers stay pending under us: release after
            await asyncio.sleep(0.01)
        if lane not in self.handing_over:     # taken back by a data-loss recovery meanwhile
            return
        try:
            if await self.leases.release(lane):
                self.salvage.forget_lane(lane)      # Redis still had them: the next owner claims them
            logger.debug("Lane {}: released", lane)
        except Exception as exc:
            logger.warning("Could not release lane {} ({!r}); it expires by TTL", lane, exc)
        finally:
            # only now may a rebalance take it again: a retake sent while the release is on its way ran first
            # at times (it found the lease still ours and kept it), then the release deleted it, and this
            # worker read a lane it no longer held (its next updates fenced out, a CLUSTER FAILOVER test)
            self.handing_over.discard(lane)

    # --- reader ---
    async def read(self) -> None:
        """Until stop(): read new entries of the lanes this worker reads into the chat queues."""
        if isinstance(self.read_client, RedisCluster):
            await ClusterReads(self).run()       # a command cannot span slots: botrunner.lanes.cluster_reads
            return
        while not self.stopping.is_set() and not self.draining:
            await self.queues.wait_for_room()
            lanes = sorted(self.reading)         # after the wait: a lane released meanwhile is not read
            if not lanes:
                await asyncio.sleep(0.1)
                continue
            every = len(lanes)
            lanes, count = self.next_read(lanes, self.queues.free)
            # a read of some lanes only (little room left) does not block: those may be empty while the
            # others hold the rest of a backlog, and a blocked read would wait 0.5 s for an entry that
            # is already there; found empty, the next read waits for room for all of them instead (unless
            # the queues can never hold one entry of every lane: then such reads block as full ones do)
            partial = len(lanes) < every <= self.queues.capacity
            names = {self.leases.keys.lane(n): n for n in lanes}
            streams: dict[KeyT, StreamIdT] = {name: ">" for name in names}
            self.in_read = set(lanes)
            try:
                reply = await self.read_client.xreadgroup(GROUP, self.leases.worker_id, streams, count=count,
                                                          block=None if partial else 500)
            except aioredis.ResponseError as exc:
                if "NOGROUP" in str(exc):         # the groups went with the data: recreate, read on
                    await self._on_nogroup(exc)
                else:
                    logger.warning("Reading lanes failed ({!r}); retrying", exc)
                    self._read_failed(lanes)
                    await asyncio.sleep(1.0)
                continue
            except Exception as exc:
                logger.warning("Reading lanes failed ({!r}); retrying", exc)
                record.redis_error("lanes", exc)
                self._read_failed(lanes)
                await asyncio.sleep(1.0)
                continue
            finally:
                self.in_read = set()
            for stream, entries in reply or []:
                lane = names.get(text(stream), -1)
                if lane in self.reading:         # entries of a lane being handed over stay pending
                    self._submit(lane, entries)
            if partial and not any(entries for _, entries in reply or []):
                await self.queues.wait_for_room(every)

    async def _on_nogroup(self, exc: Exception) -> None:
        try:
            if not await self._recover_if_lost():
                logger.error("Reading lanes: {!r} without a data loss; recreating the consumer groups", exc)
                await self.leases.ensure_groups()
        except Exception as again:
            logger.warning("Recreating the consumer groups failed ({!r}); retrying", again)
            await asyncio.sleep(1.0)

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
        self.settled.set()

    def stop(self) -> None:
        self.stopping.set()
        self.settled.set()
        self.events.wake.set()

    async def leave(self) -> None:
        """Drain: leave the registry (announced), so the others take each lane as soon as it is released."""
        if self.left:
            return
        self.left = True
        try:
            await self.registry.leave(self.cohort)
        except Exception as exc:
            logger.warning("Could not leave the worker registry ({!r}); the others rebalance when it goes stale", exc)

    async def read_returned(self) -> None:
        """Drain: wait (bounded) for the XREADGROUP in flight, so no entry is delivered to us after a release."""
        deadline = time.monotonic() + READ_RETURN_S
        while self.in_read and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def release_each_when_idle(self) -> None:
        """Drain, after the last read: release every held lane as soon as its queued updates are finished."""
        for lane in self.leases.held:
            if lane not in self.handing_over:
                self.reading.discard(lane)
                self.handing_over.add(lane)
                asyncio.create_task(self._release_when_idle(lane))

    async def release_all(self) -> None:
        """At the end of a drain: give every lane back so the others take over at once."""
        await self._give_back(self.leases.held)
        self.reading.clear()
