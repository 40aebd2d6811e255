"""Validated request values for the admin API: each raises a 400 that names the field (api.invalid)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.admin_web.api import invalid

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_ID = 2**53          # Telegram ids fit in 52 bits


def limit(query: Any) -> int:
    """?limit= (1..200, default 50)."""
    raw = query.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise invalid("limit", f"an integer in 1..{MAX_LIMIT}")
    return int(raw)


def telegram_id(raw: str, field: str = "id") -> int:
    """A positive Telegram user id from a path or query value."""
    if not raw.isdigit() or not 0 < int(raw) < MAX_ID:
        raise invalid(field, "a positive Telegram user id")
    return int(raw)


def whole(body: dict[str, Any], field: str, lo: int, hi: int, nonzero: bool = False) -> int:
    """An integer field of a JSON body (booleans are not integers)."""
    value = body.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi or (nonzero and value == 0):
        raise invalid(field, f"an integer in {lo}..{hi}" + (", not 0" if nonzero else ""))
    return value


def text(body: dict[str, Any], field: str, max_chars: int, required: bool = True) -> str:
    """A string field, stripped; required ones must not be empty."""
    value = body.get(field, "" if not required else None)
    if not isinstance(value, str) or len(value) > max_chars or (required and not value.strip()):
        raise invalid(field, f"{'a non-empty ' if required else 'a '}string of at most {max_chars} characters")
    return value.strip()


def flag(body: dict[str, Any], field: str, default: bool = False) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise invalid(field, "true or false")
    return value


def cursor(query: Any, name: str = "after", max_chars: int = 64) -> str | None:
    """An opaque keyset cursor (?after=) as the previous page's `next` gave it."""
    raw = query.get(name, "")
    if raw == "":
        return None
    if len(raw) > max_chars or not raw.replace("-", "").replace("_", "").replace(":", "").replace(".", "").isalnum():
        raise invalid(name, "a cursor from the previous page's 'next'")
    return str(raw)


def time_cursor(query: Any, name: str = "after") -> tuple[float, str] | None:
    """A (created_at, id) keyset cursor as `time_cursor_of` wrote it."""
    raw = cursor(query, name)
    if raw is None:
        return None
    at, _, key = raw.partition(":")
    try:
        value = float(at)
    except ValueError:
        value = float("nan")
    if value != value or not key:               # NaN: not a number
        raise invalid(name, "a cursor from the previous page's 'next'")
    return value, key


def time_cursor_of(at: float, key: Any) -> str:
    """The cursor after a row (repr keeps the float exact, so the next page starts right after it)."""
    return f"{at!r}:{key}"


def int_cursor(query: Any, name: str = "after") -> int | None:
    raw = cursor(query, name)
    if raw is None:
        return None
    return telegram_id(raw, name)


def time_page(rows: list[Any], limit: int, key: Callable[[Any], tuple[float, Any]]) -> tuple[list[Any], str | None]:
    """`rows` fetched with limit + 1: (the page, the cursor of its last row or None when nothing follows)."""
    page = rows[:limit]
    return page, time_cursor_of(*key(page[-1])) if len(rows) > limit else None


def status(query: Any, allowed: tuple[str, ...], default: str) -> str:
    value = query.get("status", default)
    if value not in allowed:
        raise invalid("status", "one of " + ", ".join(allowed))
    return str(value)
