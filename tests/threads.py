"""Threads in tests: run targets concurrently and re-raise what any of them raised.

An exception in a plain `threading.Thread` only prints a warning and the test passes anyway; every
test that works from several threads goes through `run_threads`, so a thread's failure fails it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any


def run_threads(calls: Iterable[tuple[Callable[..., Any], tuple]], timeout: float = 60.0) -> list[Any]:
    """Run each (target, args) in its own thread; return their results in order, or raise the first error."""
    calls = list(calls)
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def runner(index: int, target: Callable[..., Any], args: tuple) -> None:
        try:
            results[index] = target(*args)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i, target, args)) for i, (target, args) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"a thread did not finish within {timeout}s")
    if errors:
        raise AssertionError(f"{len(errors)} of {len(calls)} thread(s) raised; the first: {errors[0]!r}") from errors[0]
    return results
