"""Run every chaos scenario and rewrite the results table in docs/reliability.md.

    .venv/bin/python -m tests.chaos.report            # all scenarios (about 2-3 minutes)
    .venv/bin/python -m tests.chaos.report kill_worker redis_flushall

The table sits between the two marker comments; the rest of the page is kept as written. A run of
some scenarios replaces their rows and keeps the others.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.chaos.harness import ROOT, Result
from tests.chaos.scenarios import SCENARIOS

PAGE = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- chaos-table:begin -->", "<!-- chaos-table:end -->"


HEADER = ["| scenario | updates | lost | duplicates | order violations | dead-lettered | pending left | "
          "recovery (s) | notes |", "|---|---|---|---|---|---|---|---|---|"]


def row(r: Result) -> str:
    return (f"| {r.scenario} | {r.updates} | {r.lost} | {r.duplicates} | {r.order_violations} | "
            f"{r.dead_lettered} | {r.pending_left} | {r.recovery_s:.1f} | {'; '.join(r.notes)} |")


def table(old_rows: list[str], results: list[Result]) -> str:
    """The old rows with re-run scenarios replaced (matched by name), new ones appended."""
    fresh = {r.scenario: row(r) for r in results}
    rows = [fresh.pop(line.split("|")[1].strip(), line) for line in old_rows]
    return "\n".join(HEADER + rows + list(fresh.values()))


def rewrite(page: Path, results: list[Result]) -> None:
    text = page.read_text()
    head, _, rest = text.partition(BEGIN)
    old, _, tail = rest.partition(END)
    old_rows = [line for line in old.splitlines() if line.startswith("| ") and line not in HEADER]
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    body = (f"Measured {stamp} on a 2-core shared VM (`.venv/bin/python -m tests.chaos.report`):\n\n"
            + table(old_rows, results))
    page.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


def main(names: list[str]) -> int:
    results = []
    for name in names or list(SCENARIOS):
        started = time.monotonic()
        result = SCENARIOS[name]()
        print(f"{name}: {result} ({time.monotonic() - started:.1f} s)", flush=True)
        results.append(result)
    rewrite(PAGE, results)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
