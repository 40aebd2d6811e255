"""Reading Redis replies: names, ids and values arrive as bytes (or str with decode_responses).

`text` is the one way botrunner turns such a reply into str: UTF-8, undecodable bytes replaced
(a key or stream name is never worth a crash), anything else (int, float) through str().
"""
from __future__ import annotations


def text(value: object) -> str:
    """A reply as str: bytes decoded as UTF-8 (errors replaced), str as is, other values through str()."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)
