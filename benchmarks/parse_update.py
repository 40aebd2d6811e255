"""Micro-benchmark: microseconds per `telegram.Update.de_json` of the /start update the load tests inject
(a private-chat text message with one bot_command entity), median of repeats; `--profile` prints where
PTB spends them (cProfile, sorted by own time).

    python benchmarks/parse_update.py [--repeats 7] [--number 20000] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from typing import Any

import telegram

from botrunner.emulator import inject
from botrunner.emulator.options import EmulatorOptions
from botrunner.emulator.state import BotState
from botrunner.json_codec import loads
from botrunner.tools.loadtest import start_item


def start_update(user_id: int = 500_001) -> dict[str, Any]:
    """The update `botrunner loadtest` injects: /start from a new user in their private chat, built by the
    local Bot API server's own injection code (`botrunner.emulator.inject.command`)."""
    state = BotState("123456:parse-benchmark", EmulatorOptions())
    item = start_item(user_id)
    inject.command(state, user_id, item["command"], first_name=item["first_name"], username=item["username"])
    return loads(state.updates[-1].payload)


def per_update_us(data: dict[str, Any], number: int) -> float:
    """Process CPU microseconds per parse over `number` parses."""
    start = time.process_time()
    for _ in range(number):
        telegram.Update.de_json(data, None)
    return (time.process_time() - start) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    data = start_update()
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(per_update_us, data, args.number)
        pstats.Stats(profile).sort_stats("tottime").print_stats(18)
        return
    samples = [per_update_us(data, args.number) for _ in range(args.repeats)]
    print(f"Update.de_json (PTB {telegram.__version__}): median {statistics.median(samples):.1f} us per update "
          f"(CPU time, {args.repeats} x {args.number}; min {min(samples):.1f}, max {max(samples):.1f})")


if __name__ == "__main__":
    main()
