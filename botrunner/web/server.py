"""The per-worker HTTP server: one aiohttp application on WEB_LISTEN, routes mounted by features.

Every worker binds WEB_LISTEN with SO_REUSEPORT, so the kernel spreads a host's connections over
all of its workers and a worker that dies takes only its own connections with it. The server
runs on the worker's event loop (the handlers' threads are elsewhere) and starts only when at
least one feature in FEATURES is enabled. Stopping closes the listener first, answers requests
still arriving on open connections with 503 (Telegram and nginx retry), and waits for the ones
in flight, so the pipeline drain that follows sees every accepted update already in a lane.

A feature is a module with `enabled(settings) -> bool` and `mount(app, env) -> None`. The runner's
own are FEATURES; a bot adds its own with `Router.web_feature(module)`, and the worker passes
`FEATURES + router.web_features` to `start_web`.
"""
from __future__ import annotations

import asyncio
import socket
from typing import Protocol

from aiohttp import web
from loguru import logger

from botrunner.config.settings import Settings
from botrunner.intake import webhook
from botrunner.metrics import http as metrics_http
from botrunner.miniapp import http as miniapp
from botrunner.web.env import WebEnv
from botrunner.web.limits import ConnectionGuard, limits_middleware


class Feature(Protocol):
    """What the server needs of a feature module."""

    def enabled(self, settings: Settings) -> bool: ...

    def mount(self, app: web.Application, env: WebEnv) -> None: ...


#: The runner's own features, in mounting order (a bot's come after them: Router.web_feature).
FEATURES: list[Feature] = [webhook, miniapp, metrics_http]


def enabled_features(settings: Settings, features: list[Feature] | None = None) -> list[Feature]:
    """The enabled ones of `features` (default FEATURES), in order."""
    return [feature for feature in (FEATURES if features is None else features) if feature.enabled(settings)]


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A bound, listening TCP socket with SO_REUSEPORT (every worker of the host binds the same one)."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def port_taken(host: str, port: int) -> bool:
    """True when some process listens on host:port already. A bind without SO_REUSEPORT fails then,
    even against listeners that set it: so a second bot on a host cannot share the first one's port."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


class WebServer:
    """The running server of one worker."""

    def __init__(self, env: WebEnv, features: list[Feature]) -> None:
        self.env = env
        self.features = features
        self.draining = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.listener: asyncio.Server | None = None
        self.guard: ConnectionGuard | None = None
        self.sweeper: asyncio.Task | None = None
        self.port = 0

    def build_app(self) -> web.Application:
        s = self.env.settings
        self.guard = ConnectionGuard(lambda: None, s.web_max_connections, s.web_header_timeout_s)
        app = web.Application(client_max_size=s.web_max_body_bytes,
                              middlewares=[limits_middleware(self.guard, s.web_read_timeout_s, self.draining)])
        for feature in self.features:
            feature.mount(app, self.env)
        return app

    async def start(self) -> None:
        """Mount the features, bind, serve."""
        s = self.env.settings
        app = self.build_app()
        # a stop waits for POSTs in flight, but leaves most of the drain deadline to the lanes
        grace = min(s.webhook_response_timeout_ms / 1000 + 1, s.drain_timeout_s / 2)
        self.runner = web.AppRunner(app, access_log=None, keepalive_timeout=s.web_keepalive_timeout_s,
                                    shutdown_timeout=grace)
        await self.runner.setup()
        assert self.runner.server is not None and self.guard is not None
        self.guard.factory = self.runner.server      # aiohttp's per-connection RequestHandler factory
        host, port = s.web_address
        sock = listening_socket(host, port)
        self.port = sock.getsockname()[1]
        self.listener = await asyncio.get_running_loop().create_server(self.guard, sock=sock)
        self.sweeper = asyncio.create_task(self.guard.keep_sweeping())
        logger.info("HTTP server on {}:{} ({})", host, self.port,
                    ", ".join(getattr(f, "__name__", repr(f)).rsplit(".", 1)[-1] for f in self.features))

    async def stop(self) -> None:
        """Stop accepting, refuse new requests on open connections, finish the ones in flight."""
        self.draining.set()
        if self.listener is not None:
            self.listener.close()
        if self.sweeper is not None:
            self.sweeper.cancel()
        if self.runner is not None:
            await self.runner.cleanup()
        logger.info("HTTP server stopped")


async def start_web(env: WebEnv, features: list[Feature] | None = None) -> WebServer | None:
    """Start the worker's HTTP server when some of `features` (default FEATURES) is enabled; None when
    nothing would be mounted."""
    chosen = enabled_features(env.settings, features)
    if not chosen:
        return None
    server = WebServer(env, chosen)
    await server.start()
    return server
