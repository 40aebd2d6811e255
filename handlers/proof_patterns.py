"""Proof patterns admins type (`/addtask ... | <regex>`), run on a linear-time engine (RE2).

Python's `re` backtracks: a pattern such as `(a+)+$` takes exponential time on a crafted proof, holds
the GIL, stops the worker's heartbeat and freezes the next worker the update is retried on. RE2
guarantees time linear in the input, and the input is capped, so a match always finishes quickly.
Patterns are validated when added (RE2 refuses backreferences and lookarounds, which need
backtracking), with a memory cap so a huge counted repetition is refused too.
"""
from __future__ import annotations

import functools

import re2

MAX_PATTERN = 200          # characters of a pattern
MAX_INPUT = 500            # characters of a proof a pattern is run on (longer proofs are refused before)
MAX_MEMORY = 1 << 20       # bytes RE2 may use for one compiled pattern


class PatternError(ValueError):
    """The pattern cannot be used; str() says why, for the admin."""


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = MAX_MEMORY
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str):
    """The compiled pattern; PatternError if it is too long or RE2 refuses it."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"longer than {MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        raise PatternError(reason.decode() if isinstance(reason, bytes) else str(reason)) from None


def check(pattern: str) -> str | None:
    """Why `pattern` cannot be used (None: it can): for /addtask."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


def matches(pattern: str, proof: str) -> bool:
    """The whole (capped) proof matches, case-insensitively; an unusable stored pattern matches nothing."""
    if len(proof) > MAX_INPUT:
        return False
    try:
        return compile_pattern(pattern).fullmatch(proof) is not None
    except PatternError:
        return False
