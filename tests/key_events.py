"""Keyspace events of one Redis key, to tell a lease that was released ('del') from one left to expire
('expired'): the two look alike to a reader polling GET."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import redis


@contextlib.contextmanager
def key_events(client: redis.Redis, key: str) -> Iterator[Callable[[], list[str]]]:
    """Yields events(): the 'del' / 'expired' events of `key` so far, in order."""
    client.config_set("notify-keyspace-events", "Egx")
    pubsub = client.pubsub()
    pubsub.psubscribe("__keyevent@*__:del", "__keyevent@*__:expired")
    seen: list[str] = []

    def events() -> list[str]:
        while (msg := pubsub.get_message(timeout=0.5)) is not None:
            if msg["type"] == "pmessage" and msg["data"] == key.encode():
                seen.append(msg["channel"].decode().rsplit(":", 1)[1])
        return seen
    try:
        yield events
    finally:
        client.config_set("notify-keyspace-events", "")
        pubsub.close()
