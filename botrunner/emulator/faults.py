"""Scripted faults: make a method fail (or hang) for matching parameters, N times or until cleared."""
from __future__ import annotations

import asyncio
import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from botrunner.emulator.envelope import ApiError
from botrunner.emulator.params import Params

_DEFAULT_TEXT = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
                 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                 504: "Gateway Timeout"}


def _as_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@dataclass
class Fault:
    """One scripted fault. `delay` is slept first (a hung server); then `error_code` is answered, if set."""

    id: int
    method: str = "*"                       # case-insensitive method name, "*" for every method
    token: str | None = None                # None: every token
    match: dict[str, Any] = field(default_factory=dict)
    times: int | None = 1                   # None: until cleared
    error_code: int | None = None
    description: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    hits: int = 0

    def matches(self, method: str, token: str, params: Params) -> bool:
        if self.method != "*" and self.method != method:
            return False
        if self.token is not None and self.token != token:
            return False
        return all(params.text(name) == _as_text(value) for name, value in self.match.items())

    def error(self) -> ApiError | None:
        if self.error_code is None:
            return None
        if self.error_code == 429:
            retry_after = self.retry_after or 1
            return ApiError(429, self.description or f"Too Many Requests: retry after {retry_after}", retry_after)
        return ApiError(self.error_code, self.description or _DEFAULT_TEXT.get(self.error_code, "Error"),
                        retry_after=self.retry_after)


class FaultBook:
    """The scripted faults of one emulator, applied in the order they were added."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, **spec: Any) -> Fault:
        """Add a fault from keyword fields of `Fault` (unknown names raise TypeError)."""
        spec["method"] = str(spec.get("method") or "*").lower()
        fault = Fault(id=next(self._ids), **spec)
        if fault.error_code is None and not fault.delay:
            raise ValueError("a fault needs error_code, delay or both")
        self.faults.append(fault)
        return fault

    def clear(self, token: str | None = None) -> int:
        """Remove every fault (or those scoped to `token`); returns how many were removed."""
        before = len(self.faults)
        self.faults = [f for f in self.faults if token is not None and f.token != token]
        return before - len(self.faults)

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.faults]

    async def apply(self, method: str, token: str, params: Params) -> None:
        """Sleep and/or raise for the first fault matching this call; count it down."""
        if not self.faults:
            return
        fault = next((f for f in self.faults if f.matches(method, token, params)), None)
        if fault is None:
            return
        fault.hits += 1
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        error = fault.error()
        if error is not None:
            raise error
