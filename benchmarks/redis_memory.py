"""Redis memory per handled update: what intake, completion and the outbox journal leave behind.

    .venv/bin/python benchmarks/redis_memory.py --updates 20000

Runs N updates through the real scripts (intake in batches of 100, begin + one journaled reply +
complete per update) on a private redis-server, then reports `used_memory` growth per update and
per million updates. Stream entries are trimmed as in production, so what remains is the 24 h
bookkeeping (dedup, completion markers, journals).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile

import redis.asyncio as aioredis

from botrunner.intake.poll_lease import PollLease
from botrunner.intake.store import Intake, prepare
from botrunner.lanes.leases import LaneLeases
from botrunner.processing.completion import Completion
from botrunner.redis_keys import GROUP, Keys
from botrunner.sender.journal import OutboxJournal, call_key
from botrunner.supervisor.embedded_redis import EmbeddedRedis

KEYS = Keys.for_token("999:memory")
LANES = 64


def update(update_id: int) -> dict:
    user = 10_000_000 + update_id % 50_000
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 1_700_000_000, "text": "/start",
                                                "from": {"id": user, "is_bot": False, "first_name": "u"},
                                                "chat": {"id": user, "type": "private"}}}


async def measure(client: aioredis.Redis, lease: PollLease, leases: LaneLeases, count: int, first: int) -> float:
    intake, completion, journal = Intake(client, KEYS), Completion(client, KEYS), OutboxJournal(client, KEYS)
    before = (await client.info("memory"))["used_memory"]
    for start in range(first, first + count, 100):
        await intake.store(prepare([update(i) for i in range(start, start + 100)], LANES, start), lease.value)
        for n in range(LANES):
            for _, entries in await client.xreadgroup(GROUP, "w", {KEYS.lane(n): ">"}) or []:
                for entry_id, fields in entries:
                    uid = int(fields[b"update_id"])
                    await completion.begin(n, entry_id.decode(), uid)
                    call = ("sendMessage", {"chat_id": json.loads(fields[b"update"])["message"]["chat"]["id"],
                                            "text": "hi"})
                    await journal.begin(uid, None, False, leases.fence(n))
                    await journal.confirm(uid, call_key(0, *call), "sent", leases.fence(n))
                    await completion.complete(n, entry_id.decode(), uid, leases.fence(n))
    for n in range(LANES):
        await leases.trim(n)
    after = (await client.info("memory"))["used_memory"]
    return (after - before) / count


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="br-mem-") as directory, EmbeddedRedis(directory) as server:
        client = aioredis.from_url(server.url)
        lease, leases = PollLease(client, KEYS, "w", 600_000), LaneLeases(client, KEYS, "w", LANES, 600_000)
        await leases.ensure_groups()
        await lease.acquire()
        for n in range(LANES):
            await leases.acquire(n)
        await measure(client, lease, leases, 2000, 1)                  # warm up: groups, scripts, allocator
        per_update = await measure(client, lease, leases, count, 1_000_000)
        print(f"{per_update:.0f} bytes per update; {per_update * 1e6 / 2**20:.0f} MiB per million updates "
              f"(kept 24 h)")
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().updates))
