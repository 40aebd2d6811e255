"""Redis memory per update that the pipeline keeps for 24 h (for sizing a shared Redis).

Each handled update leaves: its intake dedup marker and its completion marker (a field each in its
lane's hashes `{lane:<n>}:seen:<id // 4096>` and `{lane:<n>}:done:<id // 4096>`, 24 h); its outbox
journal (`{lane:<n>}:journal:<id>`) is dropped when it completes. Lane
entries are trimmed once acknowledged, so they count only while a backlog exists; a backlog is
measured separately (bytes per queued /start update). Runs the real intake, completion and
journal scripts on the embedded redis-server:

    .venv/bin/python benchmarks/redis_memory.py --updates 100000
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import redis.asyncio as aioredis

from botrunner.intake.store import Intake, prepare
from botrunner.lanes.leases import Fence
from botrunner.processing.completion import Completion
from botrunner.redis_keys import GROUP, Keys
from botrunner.sender.journal import OutboxJournal
from botrunner.supervisor.embedded_redis import EmbeddedRedis

KEYS = Keys.for_token("99:memory")
LANES = 64


def start_update(update_id: int) -> dict:
    user = 10_000_000 + update_id
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "text": "/start ref_ABC123",
        "chat": {"id": user, "type": "private", "first_name": "Test", "username": f"user{user}"},
        "from": {"id": user, "is_bot": False, "first_name": "Test", "username": f"user{user}", "language_code": "en"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}


async def used(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def fill(client: aioredis.Redis, updates: int) -> None:
    """Store updates as intake does; the lease value matches so the script accepts every batch."""
    await client.set(KEYS.poll_lease, "1:w")
    intake = Intake(client, KEYS)
    for first in range(1, updates + 1, 100):
        batch = prepare([start_update(i) for i in range(first, min(first + 100, updates + 1))], LANES, first)
        await intake.store(batch, "1:w")


async def handle_all(client: aioredis.Redis, updates: int) -> None:
    """Complete every update with one journalled reply, then trim the lanes as workers do."""
    completion, journal = Completion(client, KEYS), OutboxJournal(client, KEYS)
    for lane in range(LANES):
        await client.xgroup_create(KEYS.lane(lane), GROUP, id="0", mkstream=True)
        await client.set(KEYS.lane_owner(lane), "w")
        fence = Fence(KEYS.lane_owner(lane), "w", lane)     # the journal lives in the lane's slot
        while entries := await client.xreadgroup(GROUP, "w", {KEYS.lane(lane): ">"}, count=500):
            for entry_id, fields in entries[0][1]:
                update_id = int(fields[b"update_id"])
                await journal.confirm(update_id, "0", "sent", fence)
                await completion.complete(lane, entry_id.decode(), update_id, fence)
        await client.execute_command("XTRIM", KEYS.lane(lane), "MAXLEN", 0)


async def measure(updates: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="br-mem-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        client = aioredis.from_url(server.url)
        base = await used(client)
        await fill(client, updates)
        queued = await used(client)
        await handle_all(client, updates)
        handled = await used(client)
        await client.aclose()
    return {"updates": updates, "backlog_bytes_per_update": round((queued - base) / updates),
            "kept_bytes_per_handled_update": round((handled - base) / updates),
            "mb_per_million_updates_a_day": round((handled - base) / updates * 1_000_000 / 2 ** 20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=100_000)
    print(json.dumps(asyncio.run(measure(parser.parse_args().updates))))


if __name__ == "__main__":
    main()
