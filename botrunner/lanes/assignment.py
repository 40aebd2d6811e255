"""Lane assignment: which live worker owns each lane, computed identically by every worker.

Rendezvous hashing with bounded loads. Every (worker, lane) pair has a fixed pseudo-random weight
(blake2b of "<worker id>/<lane>"). Lanes are placed in the order 0, 1, 2, ..., each on its
highest-weight worker that still has room: with N workers every worker may take floor(lanes / N)
lanes, and the first lanes % N of them to get there one more. So every worker ends with
floor(lanes / N) or ceil(lanes / N) lanes (the busiest minus the idlest is at most 1), and a burst
spread over the lanes is not held up by one worker with a third more lanes than the others (plain
rendezvous hashing gave the busiest of 4 workers 20 of 64 lanes at the median, 23 at the 90th
percentile).

The assignment depends only on the lane count and the *set* of worker ids: never on their order,
the host or the clock, so every worker derives the same one from the same member set without
talking to the others. A join moves lanes to the joiner and a leave moves the leaver's lanes, plus a
few between the workers that stay, needed to keep every worker within ceil(lanes / N)
(docs/architecture.md gives the measured numbers; tests/lanes/test_assign_and_chat_order.py bounds
them). `assign` runs on every keeper round and lane event: weights are cached per worker and the
placement per member set, so a round with unchanged membership costs a dict copy.
"""
from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from functools import lru_cache


def assign(lanes: int, workers: Iterable[str]) -> dict[int, str]:
    """Every lane 0..lanes-1 -> one of `workers` (duplicates and order ignored); {} without workers."""
    live = tuple(sorted(set(workers)))
    if not live:
        return {}
    return dict(enumerate(_placement(lanes, live)))


@lru_cache(maxsize=16)
def _placement(lanes: int, live: tuple[str, ...]) -> tuple[str, ...]:
    """Owner of each lane for the sorted member tuple `live`: see the module docstring."""
    weights = {w: _weights(w, lanes) for w in live}
    base, spare = divmod(lanes, len(live))     # `spare` workers may take base + 1 lanes, the rest base
    count = dict.fromkeys(live, 0)
    room = list(live)                          # workers that may still take a lane, in sorted order
    owners = []
    for lane in range(lanes):
        best = max(room, key=lambda w: weights[w][lane])
        owners.append(best)
        count[best] += 1
        if count[best] == base + 1:            # took one of the spare places
            room.remove(best)
            spare -= 1
            if spare == 0:                     # no spare place left: whoever has base lanes is full too
                room = [w for w in room if count[w] < base]
        elif spare == 0 and count[best] == base:
            room.remove(best)
    return tuple(owners)


@lru_cache(maxsize=64)        # the live workers and some recently gone; 8 bytes a lane each (4096 lanes: 2 MB)
def _weights(worker_id: str, lanes: int) -> array:
    """The rendezvous weight of `worker_id` for every lane (the same on every host and run)."""
    return array("Q", (int.from_bytes(hashlib.blake2b(f"{worker_id}/{lane}".encode(), digest_size=8).digest(), "big")
                       for lane in range(lanes)))
