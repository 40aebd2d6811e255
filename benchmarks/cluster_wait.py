"""What INTAKE_WAIT_REPLICAS=1 costs intake on a Redis Cluster, what the data-loss check costs, and
how many send decisions the one master serving the limiter's `{send}` slot can make.

Starts a 3-master + 3-replica cluster (Debian's redis-server, `redis-cli --cluster create`, as
tests/redis_cluster.py does), then stores `--batches` getUpdates-sized batches (`--size` updates over
64 lanes, so every batch touches all three masters) through botrunner.intake.store.Intake, without
WAIT and with WAIT 1 (one WAIT per master, sent at once), alternating, and prints the median time per
batch of each. Then times the cluster generation check (one marker per lane, one pipeline). Last,
`--sends` limiter decisions (FloodLimiter.acquire, 64 in flight, limits high enough never to wait),
and the `{send}` master's own time per script call (INFO commandstats: usec_per_call of EVALSHA),
so 1e6 / that is the ceiling of send decisions a second that master can make for the whole bot.

    .venv/bin/python benchmarks/cluster_wait.py [--batches 200] [--size 100]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from redis.crc import key_slot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botrunner.intake.store import Intake, prepare
from botrunner.lanes.generation import Generation
from botrunner.redis_keys import Keys
from botrunner.redis_scripts import ScriptedCluster
from botrunner.sender.flood_limiter import FloodLimiter, Limits
from tests.redis_cluster import ClusterNodes

KEYS = Keys.for_token("1:cluster-wait-bench")
LANES = 64


async def measure(url: str, batches: int, size: int) -> dict[str, float]:
    client = ScriptedCluster.from_url(url)
    plain, waiting = Intake(client, KEYS), Intake(client, KEYS, wait_replicas=1, wait_timeout_ms=1000)
    times: dict[str, list[float]] = {"no WAIT": [], "WAIT 1 per master": []}
    uid = 1
    try:
        for n in range(batches):
            updates = [{"update_id": uid + i, "message": {"chat": {"id": uid + i}, "text": "x" * 20}} for i in range(size)]
            uid += size
            batch = prepare(json.loads(json.dumps(updates)), LANES, 0)
            name, intake = (("no WAIT", plain) if n % 2 else ("WAIT 1 per master", waiting))
            started = time.perf_counter()
            await intake.store_unleased(batch.entries)
            times[name].append(time.perf_counter() - started)
        generation = Generation(client, KEYS, LANES)
        await generation.check()
        checks = []
        for _ in range(50):
            started = time.perf_counter()
            await generation.check()
            checks.append(time.perf_counter() - started)
    finally:
        await client.aclose()
    result = {name: statistics.median(values) * 1000 for name, values in times.items()}
    result["generation check (64 lanes)"] = statistics.median(checks) * 1000
    return result


async def limiter(nodes: ClusterNodes, sends: int) -> tuple[float, float, float]:
    """(decisions/s from this one process, usec per EVALSHA on the {send} master, its ceiling per second)."""
    master = nodes.client(nodes.master_of_slot(key_slot(KEYS.send_freeze_global.encode())))
    client = ScriptedCluster.from_url(nodes.url)
    flood = FloodLimiter(client, KEYS, Limits(chat_rate=1e6, chat_burst=10**6, global_rate=1e7, global_burst=10**6))
    await flood.acquire(1, True)
    master.config_resetstat()
    left = iter(range(sends))

    async def sender() -> None:
        for n in left:
            await flood.acquire(100_000 + n % 5000, True)
    try:
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(64)))
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
    usec = float(master.info("commandstats")["cmdstat_evalsha"]["usec_per_call"])
    return sends / elapsed, usec, 1e6 / usec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--sends", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cluster-wait-") as tmp:
        nodes = ClusterNodes(Path(tmp)).start()
        try:
            result = asyncio.run(measure(nodes.url, args.batches, args.size))
            rate, usec, ceiling = asyncio.run(limiter(nodes, args.sends))
        finally:
            nodes.stop()
    for name, ms in result.items():
        print(f"| {name} | {ms:.2f} ms |")
    print(f"| limiter decisions from one process | {rate:.0f} /s |")
    print(f"| {{send}} master: time per limiter script | {usec:.1f} us (ceiling {ceiling:.0f} decisions/s) |")


if __name__ == "__main__":
    main()
