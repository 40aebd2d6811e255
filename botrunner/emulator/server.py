"""Running the server: `serve()` blocks (the CLI), `running_emulator()` runs it in a background thread."""
from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aiohttp import web
from loguru import logger

from botrunner.emulator.app import EMULATOR, Emulator, make_app

if TYPE_CHECKING:
    from botrunner.emulator.client import ControlClient
from botrunner.emulator.options import EmulatorOptions

SHUTDOWN_GRACE = 1.0     # seconds in-flight requests get at shutdown; held polls are answered at once


async def start_site(host: str, port: int, options: EmulatorOptions) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner and the bound port (useful with port=0)."""
    runner = web.AppRunner(make_app(options), access_log=None, handler_cancellation=True,
                           shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound


def serve(host: str = "127.0.0.1", port: int = 8081, **options: Any) -> None:
    """Run the local Bot API server until SIGINT/SIGTERM (uvloop when installed). Blocking."""
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(_serve(host, port, EmulatorOptions.build(**options)))


async def _serve(host: str, port: int, options: EmulatorOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner, bound = await start_site(host, port, options)
    flood = "on" if options.flood.enabled else "off"
    logger.info("Local Bot API server listening on http://{}:{} (flood limits {})", host, bound, flood)
    try:
        await stop.wait()
    finally:
        logger.info("Local Bot API server stopping.")
        await runner.cleanup()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


class RunningEmulator:
    """A server running in a background thread: `.url`, `.port`, `.emulator` (its state), `.control()`."""

    def __init__(self, host: str, port: int, loop: asyncio.AbstractEventLoop, emulator: Emulator) -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.loop = loop
        self.emulator = emulator

    def control(self, timeout: float = 30.0) -> ControlClient:
        """A ControlClient for this server (close it, or use it as a context manager)."""
        from botrunner.emulator.client import ControlClient
        return ControlClient(self.url, timeout=timeout)


@contextmanager
def running_emulator(port: int = 0, host: str = "127.0.0.1", **options: Any) -> Iterator[RunningEmulator]:
    """Run the server on its own event loop in a daemon thread for the duration of the block."""
    built = EmulatorOptions.build(**options)
    loop = _new_loop()
    started: dict[str, Any] = {}
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            started["runner"], started["port"] = loop.run_until_complete(start_site(host, port, built))
        except BaseException as exc:  # surfaced in the caller's thread
            started["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="botrunner-emulator", daemon=True)
    thread.start()
    ready.wait()
    if "error" in started:
        loop.close()
        raise started["error"]
    runner: web.AppRunner = started["runner"]
    try:
        yield RunningEmulator(host, started["port"], loop, runner.app[EMULATOR])
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
