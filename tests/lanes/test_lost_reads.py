"""A lane read whose reply is lost after Redis delivered it (a cut connection, a timeout, a failover):
its entries are pending under the reader, which never saw them. On the real Redis: they are handled,
and before the later entries of their chats (per-chat order), never stranded until a hand-over."""
from __future__ import annotations

import asyncio

import redis
import redis.asyncio as aioredis

from botrunner.config.settings import load_settings
from botrunner.lanes import reader as reader_module
from botrunner.redis_keys import GROUP
from botrunner.worker.process import lane_read_redis
from tests.lanes.test_fault_holes import KEYS, Recording, _true, eventually, run


class LosingFirstReply:
    """The real client, except that the first XREADGROUP that delivers something loses its reply (the
    connection is cut after Redis ran it) and, meanwhile, `later` more entries arrive in that lane."""

    def __init__(self, client: aioredis.Redis, later: list[int]) -> None:
        self._client = client
        self.later = later
        self.lost: list = []

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    async def xreadgroup(self, *args, **kwargs):
        reply = await self._client.xreadgroup(*args, **kwargs)
        if reply and not self.lost:
            self.lost = reply
            stream = reply[0][0]
            for update_id in self.later:
                await self._client.xadd(stream, {"update_id": update_id, "update": '{"message": {"chat": {"id": 9}}}'})
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        return reply


def _chat_entry(update_id: int) -> dict:
    return {"update_id": update_id, "update": '{"message": {"chat": {"id": 9}}}'}


def test_a_lost_read_reply_is_handled_before_the_chats_later_updates(redis_url, redis_client):
    async def scenario(client):
        losing = LosingFirstReply(client, later=[4, 5, 6])
        pipe = Recording(losing, lanes=1)
        await pipe.start()
        for update_id in (1, 2, 3):
            await client.xadd(KEYS.lane(0), _chat_entry(update_id))
        await eventually(lambda: _true(len(pipe.handled) >= 6), timeout=20, what="all six updates handled")
        await asyncio.sleep(0.3)
        await pipe.stop()
        return losing.lost, pipe.handled
    lost, handled = run(scenario, redis_url)
    assert [int(fields[b"update_id"]) for _, fields in lost[0][1]] == [1, 2, 3]    # the reply really was lost
    assert handled == [1, 2, 3, 4, 5, 6]
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_entries_pending_under_the_worker_but_never_seen_are_swept_up(redis_url, redis_client, monkeypatch):
    """No failed read to notice (a reply lost some other way): the keeper's sweep finds the worker's own
    pending entries it does not hold and takes the lane anew, so they are handled, not stranded."""
    monkeypatch.setattr(reader_module, "TRIM_EVERY_S", 0.3)

    async def scenario(client):
        pipe = Recording(client, lanes=1, ttl_ms=1000)
        await pipe.start()
        async with client.pipeline(transaction=True) as tx:    # atomic: the blocked reader is served after
            tx.xadd(KEYS.lane(0), _chat_entry(1))
            tx.xadd(KEYS.lane(0), _chat_entry(2))
            tx.xreadgroup(GROUP, "w", {KEYS.lane(0): ">"})    # delivered to the worker's consumer, unseen
            stolen = (await tx.execute())[2]
        await eventually(lambda: _true(pipe.handled == [1, 2]), timeout=20, what="the unseen entries handled")
        await pipe.stop()
        return stolen
    stolen = run(scenario, redis_url)
    assert len(stolen[0][1]) == 2
    assert redis_client.xpending(KEYS.lane(0), GROUP)["pending"] == 0


def test_the_workers_lane_read_client_never_retries_a_cut_read(tmp_path, redis_url):
    settings = load_settings(environ={"STATE_DIR": str(tmp_path), "REDIS_URL": redis_url}, env_file=None)
    client = lane_read_redis(settings)
    retry = client.connection_pool.connection_kwargs["retry"]
    assert retry._retries == 0
