"""An env file as systemd's EnvironmentFile= reads it, compared with how `--env-file` reads it.

`--env-file` uses python-dotenv, which strips `VALUE   # comment`; systemd keeps everything after
the `=` (trimmed), so `REDIS_HOST=127.0.0.1   # master` passes `check` and fails the service.
`systemd_values` follows systemd.exec(5): lines starting with `#` or `;` are comments, leading and
trailing whitespace is dropped, interior whitespace and inline `#` are kept, a value in single or
double quotes is taken verbatim, a trailing backslash continues the line, `\\x` is `x` unquoted.
"""
from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from botrunner.config.settings import options


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            current += raw[:-1]
            continue
        lines.append(current + raw)
        current = ""
    return lines + ([current] if current else [])


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
        return value[1:-1]
    out, escaped = [], False
    for ch in value:
        if escaped or ch != "\\":
            out.append(ch)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def systemd_values(path: str | Path) -> dict[str, str]:
    """KEY -> value, as systemd passes them to the service."""
    values: dict[str, str] = {}
    for line in _logical_lines(Path(path).read_text(encoding="utf-8")):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;" or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        values[key.strip()] = _unquote(value.strip())
    return values


def systemd_mismatches(path: str | Path) -> list[str]:
    """One phrase per variable that systemd and --env-file read differently (secret values not shown)."""
    secret = {f.metadata["env"] for f in options() if f.metadata["secret"]}
    ours = {k: v for k, v in dotenv_values(path).items() if v is not None}
    problems = []
    for key, value in systemd_values(path).items():
        if ours.get(key, "") == value:
            continue
        shown = "(secret, not shown)" if key in secret else repr(value)
        problems.append(f"{key}: systemd reads {shown}, --env-file reads "
                        f"{'(secret)' if key in secret else repr(ours.get(key, ''))}; put comments on their own "
                        "line and drop quotes systemd keeps")
    return problems
