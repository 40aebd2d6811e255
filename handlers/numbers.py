"""Numbers typed by users and admins, parsed by one strict helper.

`str.isdigit()` is true for '²' and other Unicode digits that `int()` refuses, and nothing bounds the
value: an id of 2^63 or more overflows SQLite INTEGER and BSON int64. `whole()` takes ASCII digits
only, within bounds, and returns None for anything else, so a handler answers "bad input" instead
of raising (and a raise would be retried, then dead-lettered).
"""
from __future__ import annotations

MAX_INT64 = 2**63 - 1
MAX_DIGITS = 19            # len(str(MAX_INT64)): longer input is refused before int() sees it


def whole(text: str | None, lo: int = 0, hi: int = MAX_INT64) -> int | None:
    """`text` as an integer in lo..hi when it is 1..19 ASCII digits (no sign, no spaces), else None."""
    if not text or len(text) > MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def telegram_id(text: str | None) -> int | None:
    """A Telegram user or chat id typed as a number (positive, fits int64), else None."""
    return whole(text, 1, MAX_INT64)
