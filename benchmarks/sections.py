"""One marked section of docs/benchmarks.md (`<!-- name:begin -->` ... `<!-- name:end -->`), replaced where
it stands by the benchmark that measures it, or appended when the file does not have it yet."""
from __future__ import annotations

from pathlib import Path


def write_section(path: Path, text: str, begin: str, end: str, empty: str = "") -> None:
    """Replace the section between `begin` and `end` with `text` (which carries both markers) where it
    stands, or append it; `empty` is the file's text when it does not exist yet."""
    current = path.read_text() if path.exists() else empty
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        path.write_text(head + text.rstrip("\n") + rest.split(end, 1)[1])
    else:
        path.write_text(current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
