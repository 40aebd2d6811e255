"""The hot path's JSON per update: the standard library (as before) against botrunner/json_codec.py (orjson).

    .venv/bin/python benchmarks/json_codec.py
    .venv/bin/python benchmarks/json_codec.py --calls 200000

Each line is one JSON step an update costs a worker, on the reply workload's shapes: the getUpdates
answer (100 updates), one lane entry written and read back, one sendMessage body, its answer. Best of 5
rounds, microseconds per call.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botrunner import json_codec
from botrunner.sender.json_call import plain

USER = {"id": 5123456789, "is_bot": False, "first_name": "Иван", "last_name": "Петров", "username": "ivan_p",
        "language_code": "ru"}
UPDATE = {"update_id": 123456789, "message": {"message_id": 42, "from": USER, "date": 1733112000,
                                              "chat": {**USER, "type": "private"}, "text": "/start ref_abc123",
                                              "entities": [{"offset": 0, "length": 6, "type": "bot_command"}]}}
SEND = {"chat_id": 5123456789, "text": "Welcome, Иван! You are registered. 🎉"}
ANSWER = json.dumps({"ok": True, "result": {"message_id": 4242, "date": 1733112000, "text": SEND["text"],
                     "from": {"id": 1234567, "is_bot": True, "first_name": "Bench", "username": "bench_bot"},
                     "chat": {**USER, "type": "private"}}}, ensure_ascii=False).encode()
BATCH = json.dumps({"ok": True, "result": [UPDATE] * 100}, ensure_ascii=False).encode()
ENTRY_OLD = json.dumps(UPDATE, separators=(",", ":"))
ENTRY_NEW = json_codec.dumps_str(UPDATE)

STEPS = {   # step: (before, after)
    "getUpdates answer (100 updates), decode": (lambda: json.loads(BATCH.decode("utf-8", errors="replace")),
                                                lambda: json_codec.loads_lossy(BATCH)),
    "lane entry, encode": (lambda: json.dumps(UPDATE, separators=(",", ":")), lambda: json_codec.dumps_str(UPDATE)),
    "lane entry, decode": (lambda: json.loads(ENTRY_OLD.encode()), lambda: json_codec.loads(ENTRY_NEW.encode())),
    "sendMessage body, encode": (lambda: json.dumps(SEND, default=plain, ensure_ascii=False).encode(),
                                 lambda: json_codec.dumps(SEND, plain)),
    "sendMessage answer, decode": (lambda: json.loads(ANSWER)["result"], lambda: json_codec.loads(ANSWER)["result"]),
}


def per_call_us(fn, n: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50000, help="calls per round (the batch: a hundredth)")
    args = parser.parse_args()
    total_before = total_after = 0.0
    print(f"{'step':44s} {'json':>9s} {'codec':>9s}  speed-up")
    for step, (before, after) in STEPS.items():
        n = max(100, args.calls // 100) if "100 updates" in step else args.calls
        old, new = per_call_us(before, n), per_call_us(after, n)
        per_update = 100 if "100 updates" in step else 1
        total_before, total_after = total_before + old / per_update, total_after + new / per_update
        print(f"{step:44s} {old:7.2f}us {new:7.2f}us  {old / new:5.1f}x")
    print(f"{'per update (a hundredth of the batch)':44s} {total_before:7.2f}us {total_after:7.2f}us  "
          f"{total_before / total_after:5.1f}x")


if __name__ == "__main__":
    main()
