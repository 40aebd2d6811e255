"""Lane assignment alone: how even it is, how many lanes a join or a leave moves, what a call costs.

For many random worker-id sets (ids shaped like a worker's own, "<host>:<pid>:<4 hex>"; fixed seed)
and each worker count N: the busiest worker's lanes, and for one join (N -> N+1) and one leave
(N -> N-1) the lanes that move beyond those that must (to the joiner; the leaver's). Three rules:
`bounded` (botrunner.lanes.assignment.assign: every worker within ceil(lanes / N)), `loose` (the same
with room for ceil(1.25 * lanes / N) each) and `plain` (rendezvous hashing without bounds, the rule
before). Then the cost of `assign`: for worker ids never seen (their weights hashed), a member set
not seen before (weights cached, placement computed: a join or a leave) and an unchanged one (every
keeper round between membership changes).

    .venv/bin/python benchmarks/lane_assignment.py                    # 64 lanes, 2000 sets per N
    .venv/bin/python benchmarks/lane_assignment.py --lanes 16 --sets 500
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botrunner.lanes.assignment import _placement, _weights, assign

Rule = Callable[[int, list[str]], dict[int, str]]


def plain(lanes: int, workers: list[str]) -> dict[int, str]:
    """Rendezvous hashing without a bound: every lane to its highest-weight worker."""
    live = sorted(set(workers))
    weights = {w: _weights(w, lanes) for w in live}
    return {n: max(live, key=lambda w: weights[w][n]) for n in range(lanes)}


def loose(lanes: int, workers: list[str], factor: float = 1.25) -> dict[int, str]:
    """Lanes in order 0, 1, ... each to its highest-weight worker with fewer than ceil(factor * lanes / N)."""
    live = sorted(set(workers))
    weights = {w: _weights(w, lanes) for w in live}
    cap = math.ceil(factor * lanes / len(live))
    count = dict.fromkeys(live, 0)
    owners = {}
    for n in range(lanes):
        best = max((w for w in live if count[w] < cap), key=lambda w: weights[w][n])
        owners[n] = best
        count[best] += 1
    return owners


RULES: dict[str, Rule] = {"bounded": assign, "loose": loose, "plain": plain}


def worker_id(rng: random.Random) -> str:
    return f"host{rng.randrange(4)}:{rng.randrange(2, 4_000_000)}:{rng.getrandbits(16):04x}"


def churn(rule: Rule, lanes: int, n: int, sets: int, seed: int) -> dict[str, list[int]]:
    """Per random set of `n` workers: busiest worker's lanes, extra lanes moved by one join and one leave."""
    rng = random.Random(seed)
    out: dict[str, list[int]] = {"busiest": [], "join": [], "leave": [], "join_must": [], "leave_must": []}
    for _ in range(sets):
        workers = [worker_id(rng) for _ in range(n)]
        before = rule(lanes, workers)
        out["busiest"].append(max(Counter(before.values()).values()))
        joiner = worker_id(rng)
        joined = rule(lanes, [*workers, joiner])
        out["join_must"].append(sum(1 for lane in range(lanes) if joined[lane] == joiner))
        out["join"].append(sum(1 for lane in range(lanes) if joined[lane] not in (before[lane], joiner)))
        if n > 1:
            leaver = rng.choice(workers)
            left = rule(lanes, [w for w in workers if w != leaver])
            out["leave_must"].append(sum(1 for lane in range(lanes) if before[lane] == leaver))
            out["leave"].append(sum(1 for lane in range(lanes) if before[lane] != leaver and left[lane] != before[lane]))
    return out


def cost(lanes: int, n: int, calls: int = 20) -> tuple[float, float, float]:
    """Medians in ms: (workers never seen: weights hashed too, a member set not seen before, an unchanged one)."""
    rng = random.Random(lanes * 100 + n)
    workers = [worker_id(rng) for _ in range(n)]
    fresh, cold, warm = [], [], []
    for _ in range(calls):
        _weights.cache_clear()
        _placement.cache_clear()
        fresh.append(_timed(lambda: assign(lanes, workers)))
        _placement.cache_clear()
        cold.append(_timed(lambda: assign(lanes, workers)))
        warm.append(_timed(lambda: assign(lanes, workers)))
    return statistics.median(fresh) * 1000, statistics.median(cold) * 1000, statistics.median(warm) * 1000


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lanes", type=int, default=64)
    parser.add_argument("--sets", type=int, default=2000, help="random worker sets per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 3, 4, 5, 6, 8, 12, 16, 32])
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    print(f"{args.lanes} lanes, {args.sets} random worker sets per N; extra = lanes moved beyond those that must")
    print("| rule | N | busiest median / max (ideal) | join: must, extra mean / p99 / max "
          "| leave: must, extra mean / p99 / max |")
    print("| --- | ---: | --- | --- | --- |")
    for name in args.rules:
        for n in args.workers:
            r = churn(RULES[name], args.lanes, n, args.sets, args.seed + n)
            print(f"| {name} | {n} | {statistics.median(r['busiest']):g} / {max(r['busiest'])} "
                  f"({math.ceil(args.lanes / n)}) | {_moves(r['join_must'], r['join'])} | "
                  f"{_moves(r['leave_must'], r['leave'])} |")
    print("\ncost of one assign call, ms (median of 20)\n")
    print("| lanes | N | workers never seen | new member set | unchanged |\n| ---: | ---: | ---: | ---: | ---: |")
    for lanes in (64, 1024):
        for n in (2, 4, 8, 16, 32):
            print("| {} | {} | {:.3f} | {:.3f} | {:.3f} |".format(lanes, n, *cost(lanes, n)))


def _moves(must: list[int], extra: list[int]) -> str:
    if not extra:
        return "-"
    p99 = sorted(extra)[int(0.99 * (len(extra) - 1))]
    return f"{statistics.mean(must):.1f}, {statistics.mean(extra):.2f} / {p99} / {max(extra)}"


if __name__ == "__main__":
    main()
