"""Local runs of botrunner's own commands as real processes: the demo and the benchmarks use these.

A free loopback port, `botrunner <command>` as a subprocess with its output in a log, a readiness
wait on its HTTP port or on any condition, and a warm stop (SIGTERM, then SIGKILL after a deadline).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args: list[str], log_path: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `botrunner <args>` in its own session; output appended to `log_path` (or discarded)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "botrunner", *args], stdout=out, stderr=subprocess.STDOUT,
                            env=env if env is not None else dict(os.environ), cwd=ROOT, start_new_session=True)


def wait_http(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Return once `url` answers any HTTP request; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05,
               alive: Callable[[], bool] = lambda: True) -> Any:
    """Poll `predicate` until it returns something truthy (returned); raise if `alive()` turns false
    (the process we wait on exited) or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the process exited while waiting for {what}")
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_emulator(log_path: Path | None = None, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`botrunner emulator` on a free port, ready: (process, base URL)."""
    port = free_port()
    process = spawn(["emulator", "--port", str(port)], log_path, env)
    url = f"http://127.0.0.1:{port}"
    wait_http(url, process)
    return process, url


def stop(process: subprocess.Popen | None, timeout: float = 30.0) -> None:
    """SIGTERM (warm stop), then SIGKILL if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
