"""Run every benchmark script in this folder, one after the other, and stop on a failure.

`make bench` runs only compare.py, the side-by-side comparison.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_")
                     and '__name__ == "__main__"' in p.read_text())   # skip the modules scripts import
    for number, script in enumerate(scripts, 1):
        print(f"== [{number}/{len(scripts)}] {script.name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)])
        print(f"== {script.name}: exit {code} after {time.monotonic() - started:.1f} s", flush=True)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
