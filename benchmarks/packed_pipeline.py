"""What a packed pipeline costs the worker: client CPU per round trip of N script calls on one Redis.

    .venv/bin/python benchmarks/packed_pipeline.py                 # 1, 4 and 10 calls per pipeline
    .venv/bin/python benchmarks/packed_pipeline.py --calls 10 --rounds 5000

The script batcher sends the calls of a loop turn as one pipeline (botrunner.packed_pipeline.send); under
a burst it carries about ten (begin, the limiter's slot, completion of several updates). This measures
the calling process's CPU time (Redis is another process) for `send` over an embedded Redis, with the
worker's kind of client (a blocking pool, a socket timeout, a health check interval), median of 5
repetitions.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
import uvloop

ROOT = Path.cwd()           # run from a checkout's root: its botrunner is measured
sys.path.insert(0, str(ROOT))

from botrunner.packed_pipeline import send  # noqa: E402
from botrunner.supervisor.embedded_redis import EmbeddedRedis  # noqa: E402

SCRIPT = "return {ARGV[1], redis.call('HINCRBY', KEYS[1], ARGV[1], 1)}"


async def per_pipeline_us(url: str, calls: int, rounds: int) -> list[float]:
    client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        url, socket_timeout=10.0, max_connections=64, timeout=None, health_check_interval=30))
    try:
        sha = await client.script_load(SCRIPT)
        commands = [("EVALSHA", sha, 1, "{lane:7}:attempts", f"1764680000000-{n}") for n in range(calls)]
        for _ in range(200):
            await send(client, commands)
        spent = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(rounds):
                await send(client, commands)
            spent.append((time.process_time() - started) / rounds * 1e6)
        return spent
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="*", default=[1, 4, 10])
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="br-pipeline-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        for calls in args.calls:
            spent = uvloop.run(per_pipeline_us(server.url, calls, args.rounds))
            median = statistics.median(spent)
            print(f"{calls:3d} calls per pipeline: {median:6.1f} us CPU per round trip, {median / calls:5.1f} us per "
                  f"call (min {min(spent):.1f}, max {max(spent):.1f})")


if __name__ == "__main__":
    main()
