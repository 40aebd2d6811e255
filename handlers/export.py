"""The user export (/export and the scheduled one): gzip CSV parts streamed to disk, then uploaded.

Invariants: memory stays flat whatever the number of users (rows go from the repository's paged
`iter_all` straight into a gzip file; uploads stream each file from disk), and every part is a
complete CSV with its header, below Telegram's 50 MB upload limit (`PART_BYTES` compressed). Cells
starting with = + - @ (or a tab or carriage return before one) are prefixed with ' so a spreadsheet
never runs them as formulas. "banned" means banned
now (an expired timed ban exports as not banned).
"""
from __future__ import annotations

import csv
import gzip
import io
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

PART_BYTES = 45 * 1024 * 1024       # compressed bytes per part (Telegram takes uploads up to 50 MB)
PROGRESS_EVERY = 10_000             # rows between `progress()` calls (the scheduler renews its lease)
FIELDS = ("id", "username", "first_name", "language_code", "points", "total_earned", "referral_count",
          "referred_by", "wallet_address", "captcha_passed", "banned", "blocked_bot", "registered_at",
          "last_active_at")


def _cell(user: Any, column: str) -> Any:
    return user.is_banned() if column == "banned" else getattr(user, column)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")     # OWASP's list for CSV injection


def row(user: Any) -> list[Any]:
    """One user's cells in FIELDS order, before csv_safe (the admin web's download uses it too)."""
    return [_cell(user, column) for column in FIELDS]


def csv_safe(value: Any) -> Any:
    """Text starting like a formula would run as one in a spreadsheet: prefix it with '."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return "" if value is None else value


class _Part:
    """One users-NNN.csv.gz being written: header first, rows appended, size read off the file."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, 0
        self.raw = open(path, "wb")
        self.gz = gzip.GzipFile(fileobj=self.raw, mode="wb", mtime=0)
        self.text = io.TextIOWrapper(self.gz, encoding="utf-8", newline="")
        self.writer = csv.writer(self.text)
        self.writer.writerow(FIELDS)

    def add(self, user: Any) -> None:
        self.writer.writerow([csv_safe(cell) for cell in row(user)])
        self.rows += 1

    def size(self) -> int:
        return self.raw.tell()          # compressed bytes so far (zlib holds back a little)

    def close(self) -> tuple[Path, int]:
        self.text.flush()
        self.text.detach()
        self.gz.close()
        self.raw.close()
        return self.path, self.rows


def write_parts(users: Iterable[Any], directory: Path, part_bytes: int = PART_BYTES,
                progress: Callable[[int], None] = lambda rows: None) -> list[tuple[Path, int]]:
    """Write `users` as users-001.csv.gz, users-002.csv.gz, ...; returns [(path, rows)]."""
    parts: list[tuple[Path, int]] = []
    part: _Part | None = None
    for total, user in enumerate(users, 1):
        if part is not None and part.size() >= part_bytes:
            parts.append(part.close())
            part = None
        if part is None:
            part = _Part(directory / f"users-{len(parts) + 1:03d}.csv.gz")
        part.add(user)
        if total % PROGRESS_EVERY == 0:
            progress(total)
    if part is not None:
        parts.append(part.close())
    return parts


def send_export(rt: Any, chat_id: int | str, caption: Callable[[int, int, int], str],
                progress: Callable[[int], None] = lambda rows: None) -> int:
    """Export every user to `chat_id`, one document per part; returns the number of users.
    `caption(part, parts, rows)` words each document. Files live in a temporary directory under
    STATE_DIR only while they are uploaded."""
    base = Path(rt.settings.state_dir)
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="export-", dir=base) as tmp:
        parts = write_parts(rt.store.users.iter_all(), Path(tmp), progress=progress)
        for n, (path, rows) in enumerate(parts, 1):
            name = f"users-{stamp}" + (f"-part{n}of{len(parts)}" if len(parts) > 1 else "") + ".csv.gz"
            rt.api.send_document(chat_id, path, name, caption(n, len(parts), rows))
        return sum(rows for _, rows in parts)
