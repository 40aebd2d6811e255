"""Reading a worker's lanes on a Redis Cluster: pipelined rounds per node, a blocking read per idle lane.

On one Redis one XREADGROUP reads every lane a worker holds. On a cluster a command cannot span
slots and every lane has a slot of its own, so the reads are organised as follows:
- A round is one non-blocking XREADGROUP per lane ready to read, sent as one cluster pipeline: redis-py
  splits it by node and sends each node's part at once, so a round costs one round trip per node
  however many lanes the node serves. COUNT and the lanes chosen follow `LaneReader.next_read`, so a
  round asks for at most the room left in the chat queues. Rounds follow each other while they find
  entries: a backlog is read at a round trip per node per round, not one read per lane and entry.
- A lane a round found empty is parked: blocking XREADGROUPs (BLOCK 500) of its own, one after the
  other, so an idle bot waits inside Redis rather than in a polling loop (an idle lane costs one read
  per 500 ms, as a dedicated reader would). A parked lane joins the rounds again when a read of it
  returns entries.
- At most one read per lane is in flight (`LaneReader.in_read` names them), so a chat's later entries
  are never submitted before the entries of an earlier read of its lane.
- A lane's node is looked up in the client's slot map at every read, so after a failover it is read
  from its new master. A read that fails (the whole round, or one lane's reply) hands its lanes over
  to be taken anew, as on one Redis (`LaneReader._read_failed`: its reply may have been delivered).
"""
from __future__ import annotations

import asyncio
from typing import Any, Protocol

import redis.asyncio as aioredis
from loguru import logger

from botrunner.lanes.chat_order import ChatQueues
from botrunner.lanes.leases import LaneLeases
from botrunner.metrics import record
from botrunner.redis_keys import GROUP


class LaneReading(Protocol):
    """What the rounds use of the LaneReader they read for (a protocol: the reader imports this module)."""
    read_client: Any
    leases: LaneLeases
    queues: ChatQueues
    reading: set[int]
    in_read: set[int]
    stopping: asyncio.Event
    draining: bool

    def next_read(self, lanes: list[int], free: int) -> tuple[list[int], int]: ...
    def _submit(self, lane: int, entries: list) -> None: ...
    def _read_failed(self, lanes: list[int]) -> None: ...
    async def _on_nogroup(self, exc: Exception) -> None: ...


BLOCK_MS = 500
WAIT_S = 0.05          # longest wait for a parked read before looking for newly taken lanes


class ClusterReads:
    """The read loop of one LaneReader on a Redis Cluster."""

    def __init__(self, reader: LaneReading) -> None:
        self.reader = reader
        self.client: Any = reader.read_client
        self.parked: dict[int, asyncio.Task] = {}
        self.rounds = 0               # pipelines sent (each one round trip per node)

    def running(self) -> bool:
        return not self.reader.stopping.is_set() and not self.reader.draining

    async def run(self) -> None:
        """Until stop() or a drain: rounds while they find entries; otherwise wait for a parked lane."""
        try:
            while self.running():
                await self.reader.queues.wait_for_room()
                ready = [lane for lane in sorted(self.reader.reading) if lane not in self.reader.in_read]
                if ready and await self.round(ready):
                    continue
                await self._wait_for_parked()
        finally:
            await asyncio.gather(*self.parked.values(), return_exceptions=True)

    async def round(self, ready: list[int]) -> bool:
        """One pipelined read of `ready` (or the share of it the room allows); parks the lanes it found
        empty. True when it found entries."""
        reader = self.reader
        lanes, count = reader.next_read(ready, reader.queues.free)
        reader.in_read |= set(lanes)
        self.rounds += 1
        try:
            replies = await self._pipeline(lanes, count)
        except Exception as exc:
            await self._failed(lanes, exc)
            await asyncio.sleep(1.0)
            return False
        finally:
            reader.in_read -= set(lanes)
        found, failed = False, []
        for lane, reply in zip(lanes, replies):
            if isinstance(reply, Exception):
                failed.append((lane, reply))
            elif reply:
                found = True
                self._submit(lane, reply)
            elif lane in reader.reading:
                self._park(lane)
        for lane, error in failed:
            await self._failed([lane], error)
        return found

    async def _pipeline(self, lanes: list[int], count: int) -> list[Any]:
        keys = self.reader.leases.keys
        async with self.client.pipeline(transaction=False) as pipe:
            for lane in lanes:
                pipe.xreadgroup(GROUP, self.reader.leases.worker_id, {keys.lane(lane): ">"}, count=count)
            return list(await pipe.execute(raise_on_error=False))

    def _park(self, lane: int) -> None:
        count = max(1, min(100, self.reader.queues.free // max(1, len(self.reader.reading))))
        self.reader.in_read.add(lane)
        self.parked[lane] = asyncio.create_task(self._blocking_read(lane, count))

    async def _blocking_read(self, lane: int, count: int) -> None:
        """Block in Redis until the lane has entries (read again after each empty BLOCK), the lane is
        handed over, or the reader stops; then the lane joins the rounds again."""
        reader = self.reader
        try:
            while True:
                reply = await self.client.xreadgroup(GROUP, reader.leases.worker_id,
                                                     {reader.leases.keys.lane(lane): ">"}, count=count, block=BLOCK_MS)
                if reply or lane not in reader.reading or not self.running():
                    self._submit(lane, reply)
                    return
                await reader.queues.wait_for_room()
        except Exception as exc:
            await self._failed([lane], exc)
        finally:
            reader.in_read.discard(lane)

    def _submit(self, lane: int, reply: Any) -> None:
        for _, entries in reply or []:
            if lane in self.reader.reading:       # entries of a lane being handed over stay pending
                self.reader._submit(lane, entries)

    async def _failed(self, lanes: list[int], exc: Exception) -> None:
        if isinstance(exc, aioredis.ResponseError) and "NOGROUP" in str(exc):
            self.reader.in_read -= set(lanes)
            await self.reader._on_nogroup(exc)       # the groups went with the data: recreate, read on
            return
        logger.warning("Reading lanes {} failed ({!r}); retrying", lanes, exc)
        record.redis_error("lanes", exc)
        self.reader._read_failed(lanes)

    async def _wait_for_parked(self) -> None:
        for lane in [lane for lane, task in self.parked.items() if task.done()]:
            del self.parked[lane]
        if not self.parked:
            await asyncio.sleep(WAIT_S)
            return
        await asyncio.wait(list(self.parked.values()), timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED)
