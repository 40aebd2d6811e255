"""One marked section of docs/benchmarks.md (`<!-- name:begin -->` ... `<!-- name:end -->`), replaced in
place by the benchmark that measures it, or appended when the file does not have it yet."""
from __future__ import annotations

from pathlib import Path


def write_section(path: Path, text: str, begin: str, end: str) -> None:
    """Replace the section between `begin` and `end` with `text` (which carries both markers), or append it."""
    current = path.read_text() if path.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + rest.split(end, 1)[1].lstrip("\n")
    path.write_text(current.rstrip("\n") + "\n\n" + text)
