"""Lane handover on real processes (`botrunner start`, its workers, the local Bot API server, Redis).

Watched from outside through Redis itself: every lane lease taken is a `set` keyspace event on its
`lane:<n>:owner` key, and every join, leave and release is a message on the lane events channel. The
lease TTL is 60 s, so a keeper round is 20 s: a lane taken within seconds of its release, or an
assignment settled within seconds of a join, was moved by the events.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from tests.runner.conftest import KEYS, assert_chats_in_order, inject, wait_until

pytestmark = pytest.mark.slow

LANES = 16
SLOW_TTL = {"LANE_LEASE_TTL_MS": "60000", "SLOW_S": "0.05", "SEND_LIMITS": "false"}
TAKE_BOUND_S = 2.0          # a release until the new owner's SET (a loaded 2-core machine; a round is 20 s)
SETTLE_BOUND_S = 10.0       # a join or leave until every lane is held by its assigned worker


class LaneWatch(threading.Thread):
    """Records (monotonic, kind, detail): ("took", lane) per lease SET, ("joined"|"left"|"released", rest)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("__keyevent@*__:set")
        self.pubsub.subscribe(KEYS.lane_events)
        self.owner_keys = {KEYS.lane_owner(n).encode(): n for n in range(LANES)}
        self.seen: list[tuple[float, str, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            msg = self.pubsub.get_message(timeout=0.1)
            if msg is None:
                continue
            at, data = time.monotonic(), msg["data"]
            if msg["type"] == "pmessage" and data in self.owner_keys:
                self.seen.append((at, "took", str(self.owner_keys[data])))
            elif msg["type"] == "message":
                kind, _, rest = data.decode().partition(" ")
                self.seen.append((at, kind, rest))

    def after(self, since: float, kind: str) -> list[tuple[float, str]]:
        return [(at, detail) for at, k, detail in list(self.seen) if at >= since and k == kind]


@contextmanager
def watching(client: redis.Redis) -> Iterator[LaneWatch]:
    client.config_set("notify-keyspace-events", "E$")
    watch = LaneWatch(client)
    watch.start()
    try:
        yield watch
    finally:
        watch.stopping.set()
        watch.join(2)
        watch.pubsub.close()
        client.config_set("notify-keyspace-events", "")


def release_to_take(watch: LaneWatch, since: float) -> dict[int, float]:
    """For each lane released since `since`: seconds until its lease was next SET (inf: never)."""
    takes = watch.after(since, "took")
    out = {}
    for at, detail in watch.after(since, "released"):
        lane = int(detail.split()[0])
        out[lane] = next((t - at for t, n in takes if int(n) == lane and t >= at), float("inf"))
    return out


def moved_once_per_change(watch: LaneWatch, since: float) -> bool:
    """Between two membership changes, no lane was released twice (no lane moved twice for one change)."""
    changes = sorted(at for at, k, _ in watch.seen if at >= since and k in ("joined", "left"))
    edges = [since, *changes, float("inf")]
    released = watch.after(since, "released")
    for lo, hi in zip(edges, edges[1:]):
        counts = Counter(detail.split()[0] for at, detail in released if lo <= at < hi)
        if any(n > 1 for n in counts.values()):
            return False
    return True


def test_workers_started_together_each_take_their_share_once(cluster):
    with watching(cluster.client) as watch:
        started = time.monotonic()
        cluster.start(workers=4, LANE_LEASE_TTL_MS="60000")      # returns once every lane is with its assigned worker
        took = watch.after(started, "took")
        joined = watch.after(started, "joined")
        released = watch.after(started, "released")
    assert sorted(int(n) for _, n in took) == list(range(LANES))        # each lane taken once ...
    assert released == []                                               # ... and never handed back
    assert len(joined) == 1 and len(joined[0][1].split()) == 4          # the four joined the assignment together


def change_workers(cluster, watch: LaneWatch, sup, sig: signal.Signals, workers: int, change: str,
                   traffic) -> None:
    """Send `sig`; lanes must be taken on their release and the assignment settle soon after the change."""
    since = time.monotonic()
    traffic()
    os.kill(sup.pid, sig)
    wait_until(lambda: watch.after(since, change), 60, 0.05, what=f"a worker {change}")
    changed_at = watch.after(since, change)[0][0]
    traffic()
    settled_at = wait_until(lambda: len(cluster.worker_pids(sup.pid)) == workers and cluster.settled()
                            and time.monotonic(), 60, 0.05, what=f"{workers} workers settled after {sig.name}",
                            explain=cluster.describe)
    assert settled_at - changed_at < SETTLE_BOUND_S, f"{sig.name}: settled {settled_at - changed_at:.1f}s later"
    waits = release_to_take(watch, since)
    assert waits and max(waits.values()) < TAKE_BOUND_S, f"{sig.name}: release -> take {waits}"
    assert moved_once_per_change(watch, since)


def test_lanes_move_on_events_through_ttin_ttou_and_a_roll_with_every_chat_in_order(cluster, emulator):
    _, control = emulator
    sup = cluster.start(workers=2, **SLOW_TTL)
    sent: dict[int, list[int]] = {}

    def traffic() -> None:
        for chat, ids in inject(control, range(700, 720), per_user=3, command="slow").items():
            sent.setdefault(chat, []).extend(ids)

    with watching(cluster.client) as watch:
        change_workers(cluster, watch, sup, signal.SIGTTIN, 3, "joined", traffic)
        change_workers(cluster, watch, sup, signal.SIGTTOU, 2, "left", traffic)
        since = time.monotonic()
        old = set(cluster.worker_pids(sup.pid))
        os.kill(sup.pid, signal.SIGHUP)
        while old & set(cluster.worker_pids(sup.pid)) or len(cluster.worker_pids(sup.pid)) < 2:
            traffic()
            time.sleep(0.5)
            assert time.monotonic() - since < 90, "the roll did not finish"
        wait_until(cluster.settled, 60, 0.05, what="settled after the roll", explain=cluster.describe)
        waits = release_to_take(watch, since)
        assert waits and max(waits.values()) < TAKE_BOUND_S, f"roll: release -> take {waits}"
        assert moved_once_per_change(watch, since)
    count = sum(map(len, sent.values()))
    wait_until(lambda: len(cluster.handled()) >= count, 90, 0.2, what=f"{count} handled updates")
    assert set(cluster.handled().values()) == {1}
    assert_chats_in_order(cluster, sent)


def test_a_second_supervisor_joining_and_leaving_moves_lanes_on_events(cluster, emulator):
    """Another host's supervisor (here: a second `botrunner start` on the same Redis): its two workers join
    the assignment together, lanes move to them on the release events, and back when it stops."""
    _, control = emulator
    first = cluster.start(workers=2, **SLOW_TTL)
    sent: dict[int, list[int]] = {}
    with watching(cluster.client) as watch:
        since = time.monotonic()
        for chat, ids in inject(control, range(800, 820), per_user=3, command="slow").items():
            sent.setdefault(chat, []).extend(ids)
        second = cluster.start(workers=2, **SLOW_TTL)
        joined = watch.after(since, "joined")
        assert len(joined) == 1 and len(joined[0][1].split()) == 2          # both of its workers at once
        waits = release_to_take(watch, since)
        assert waits and max(waits.values()) < TAKE_BOUND_S, f"join: release -> take {waits}"
        assert moved_once_per_change(watch, since)
        since = time.monotonic()
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)
        wait_until(lambda: len(cluster.worker_pids(first.pid)) == 2 and cluster.settled(), 60, 0.05,
                   what="the first supervisor's workers holding every lane again", explain=cluster.describe)
        waits = release_to_take(watch, since)
        assert waits and max(waits.values()) < TAKE_BOUND_S, f"leave: release -> take {waits}"
    count = sum(map(len, sent.values()))
    wait_until(lambda: len(cluster.handled()) >= count, 90, 0.2, what=f"{count} handled updates")
    assert set(cluster.handled().values()) == {1}
    assert_chats_in_order(cluster, sent)
