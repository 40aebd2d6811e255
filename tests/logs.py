"""Reading the logs that `botrunner start` writes, for failure messages."""
from __future__ import annotations

LEVELS = (" WARNING ", " ERROR ", " CRITICAL ")


def warning_lines(log: str) -> list[str]:
    """The lines of a supervisor's log (its workers' too) logged at WARNING or above."""
    return [line for line in log.splitlines() if any(level in line for level in LEVELS)]
