"""Names of other users as the bot shows them (leaderboards, transfer confirmations).

A first name or username is text the user chose: it may carry bidi controls that reverse the rest of
the line ("…moc.elgoog"), zero-width characters, or a link or @mention that Telegram turns into a
clickable one even in plain text. `clean()` removes all of them, so a name can never disguise
itself or advertise; what is left is cut to a length.
"""
from __future__ import annotations

import re
import unicodedata

# bidi embeddings/overrides/isolates and marks, zero-width characters, the BOM
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_LINK = re.compile(r"(?i)\b(?:https?://|www\.|t\.me/|telegram\.me/)\S*|\S+\.(?:com|org|net|io|me|gg|xyz|ru|co)\b\S*"
                   r"|@\w+")


def clean(text: str, limit: int = 32) -> str:
    """`text` without invisible/control characters, links and @mentions, whitespace squeezed, cut."""
    text = _INVISIBLE.sub("", text or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = " ".join(_LINK.sub(" ", text).split())
    return text[:limit].strip()


def public(user) -> str:
    """A leaderboard name that does not leak ids: the cleaned first name, else a masked username."""
    name = clean(user.first_name, 20)
    if name:
        return name
    return (user.username[:3] + "…") if user.username else f"user…{str(user.id)[-3:]}"


def recipient(user) -> str:
    """Who a transfer goes to, so the sender can tell a stale @username: name, @username and id."""
    name = clean(" ".join(filter(None, (user.first_name, user.last_name))), 40) or "-"
    handle = f" @{user.username}" if user.username else ""
    return f"{name}{handle} (id {user.id})"
