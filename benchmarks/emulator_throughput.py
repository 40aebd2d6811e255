"""Throughput of the local Bot API server (`botrunner emulator`) on the bot's hot path.

Starts `botrunner emulator` as a separate process on a free port, injects simulated users in
bulk through the control plane, then runs a bot-like client: getUpdates(offset) in a loop, each
update answered by sendMessage from a pool of concurrent keep-alive connections. Reports HTTP
requests/s (getUpdates + sendMessage) and replies/s, median of several runs, plus the server
process's CPU time per request (the figure that shows whether the server or the client was
the limit on a small machine).

    .venv/bin/python benchmarks/emulator_throughput.py [--runs 5] [--messages 5000] [--connections 16]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import aiohttp
import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "botrunner", "emulator", "--host", HOST, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/__control/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the emulator did not start")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inject_users(base: str, token: str, messages: int) -> None:
    with httpx.Client(base_url=base, timeout=60) as control:
        for start in range(0, messages, 1000):
            items = [{"user_id": 10_000 + i, "text": f"/start {i}"} for i in range(start, min(messages, start + 1000))]
            response = control.post("/__control/inject/batch", json={"token": token, "items": items})
            response.raise_for_status()


def _request_kwargs(encoding: str, fields: dict) -> dict:
    if encoding == "json":
        return {"json": fields}
    if encoding == "form":
        return {"data": {k: str(v) for k, v in fields.items()}}
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, str(value))
    return {"data": form}


async def bot_loop(base: str, token: str, messages: int, connections: int, encoding: str) -> tuple[int, float]:
    """getUpdates(offset) + one sendMessage per update; returns (requests made, seconds)."""
    queue: asyncio.Queue = asyncio.Queue()
    done = asyncio.Event()
    counts = {"requests": 0, "replies": 0}
    connector = aiohttp.TCPConnector(limit=connections + 1)
    async with aiohttp.ClientSession(base_url=f"{base}/bot{token}/", connector=connector) as session:

        async def sender() -> None:
            while True:
                update = await queue.get()
                chat_id = update["message"]["chat"]["id"]
                fields = {"chat_id": chat_id, "text": "Welcome! Your referral link is ready."}
                async with session.post("sendMessage", **_request_kwargs(encoding, fields)) as response:
                    body = await response.json()
                    assert body["ok"], body
                counts["requests"] += 1
                counts["replies"] += 1
                if counts["replies"] == messages:
                    done.set()

        senders = [asyncio.create_task(sender()) for _ in range(connections)]
        started = time.perf_counter()
        offset = 0
        received = 0
        while received < messages:
            async with session.post("getUpdates", json={"offset": offset, "timeout": 1}) as response:
                batch = (await response.json())["result"]
            counts["requests"] += 1
            for update in batch:
                queue.put_nowait(update)
            if batch:
                offset = batch[-1]["update_id"] + 1
                received += len(batch)
            while queue.qsize() > connections * 8:      # a real runner bounds its in-flight work too
                await asyncio.sleep(0.001)
        await done.wait()
        elapsed = time.perf_counter() - started
        for task in senders:
            task.cancel()
        return counts["requests"], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=10000, help="simulated users (one reply each) per run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent sendMessage connections")
    parser.add_argument("--encoding", choices=["json", "form", "multipart"], default="json")
    args = parser.parse_args()
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass

    port = free_port()
    base = f"http://{HOST}:{port}"
    print(f"starting `botrunner emulator` on {base} ...", flush=True)
    server = start_server(port)
    rates, reply_rates, cpu_per_request = [], [], []
    try:
        for run in range(1, args.runs + 1):
            token = f"{900_000 + run}:bench-{run}"
            inject_users(base, token, args.messages)
            cpu_before = cpu_seconds(server.pid)
            requests, elapsed = asyncio.run(bot_loop(base, token, args.messages, args.connections, args.encoding))
            server_cpu = cpu_seconds(server.pid) - cpu_before
            rates.append(requests / elapsed)
            reply_rates.append(args.messages / elapsed)
            cpu_per_request.append(server_cpu / requests * 1e6)
            print(f"run {run}/{args.runs}: {requests} requests in {elapsed:.2f} s = {rates[-1]:,.0f} req/s, "
                  f"{reply_rates[-1]:,.0f} replies/s; server CPU {server_cpu:.2f} s "
                  f"({cpu_per_request[-1]:.0f} µs/request)", flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    print()
    print(f"emulator throughput, median of {args.runs} runs ({args.messages} users/run, {args.connections} "
          f"connections, {args.encoding} bodies, {os.cpu_count()} CPUs):")
    print(f"  {statistics.median(rates):,.0f} requests/s (getUpdates + sendMessage)")
    print(f"  {statistics.median(reply_rates):,.0f} replies/s")
    print(f"  {statistics.median(cpu_per_request):.0f} µs server CPU per request "
          f"(= {1e6 / statistics.median(cpu_per_request):,.0f} requests/s per server core)")


if __name__ == "__main__":
    main()
