"""Connection limits of the workers' HTTP server: a connection cap and slow clients cut off.

aiohttp bounds the body (client_max_size) and idle keep-alive connections, but not a client that
trickles its headers or its body. `ConnectionGuard` wraps aiohttp's protocol factory: past
WEB_MAX_CONNECTIONS a new connection is closed at once; a connection whose request has begun
(bytes arrived) but not reached a handler within WEB_HEADER_TIMEOUT_S is cut off by a sweeper;
`limits_middleware` gives each body WEB_READ_TIMEOUT_S (408) and answers 503 while draining.
Everything runs on the worker's loop and never waits on a client.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from loguru import logger

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class GuardedConnection(asyncio.Protocol):
    """One TCP connection: forwards to aiohttp's RequestHandler and notes when a request begins."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.inner: Any = None            # aiohttp's RequestHandler, None when refused
        self.transport: asyncio.Transport | None = None
        self.header_deadline = 0.0        # loop time by which the request must reach a handler; 0: none
        self.in_request = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.guard.open) >= self.guard.max_connections:
            self.guard.refused += 1
            if self.guard.refused in (1, 10, 100) or self.guard.refused % 1000 == 0:
                logger.warning("HTTP server: {} connection(s) refused so far: WEB_MAX_CONNECTIONS={} are open",
                               self.guard.refused, self.guard.max_connections)
            transport.abort()  # type: ignore[attr-defined]
            return
        self.inner = self.guard.factory()
        self.guard.open[self.inner] = self
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if data and not self.in_request and not self.header_deadline:
            self.header_deadline = asyncio.get_running_loop().time() + self.guard.header_timeout
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.guard.open.pop(self.inner, None)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def request_started(self) -> None:
        self.in_request += 1
        self.header_deadline = 0.0

    def request_ended(self) -> None:
        self.in_request -= 1


class ConnectionGuard:
    """The protocol factory handed to loop.create_server; owns the table of open connections."""

    def __init__(self, factory: Callable[[], Any], max_connections: int, header_timeout: float) -> None:
        self.factory = factory             # aiohttp's web.Server: builds one RequestHandler per connection
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.open: dict[Any, GuardedConnection] = {}
        self.refused = 0
        self.cut_slow = 0

    def __call__(self) -> GuardedConnection:
        return GuardedConnection(self)

    def connection_of(self, request: web.BaseRequest) -> GuardedConnection | None:
        return self.open.get(request.protocol)

    def sweep(self, now: float) -> int:
        """Cut off every connection whose headers are overdue; returns how many."""
        late = [conn for conn in self.open.values() if conn.header_deadline and now > conn.header_deadline]
        for conn in late:
            conn.header_deadline = 0.0
            if conn.transport is not None:
                conn.transport.abort()
        if late:
            self.cut_slow += len(late)
            logger.warning("HTTP server: cut off {} client(s) that sent no complete request within "
                           "WEB_HEADER_TIMEOUT_S={:g}", len(late), self.header_timeout)
        return len(late)

    async def keep_sweeping(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.header_timeout / 4))
            self.sweep(loop.time())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def limits_middleware(guard: ConnectionGuard, read_timeout: float, draining: asyncio.Event) -> Any:
    """Marks requests on their connection, reads bodies within read_timeout, refuses work while draining."""

    @web.middleware
    async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = guard.connection_of(request)
        if conn is not None:
            conn.request_started()
        try:
            if draining.is_set():
                return _closing(web.Response(status=503, text="worker stopping, retry", headers={"Retry-After": "1"}))
            if request.method in BODY_METHODS and request.body_exists and not request.content.is_eof():
                try:              # (a body that came with the headers needs no timer: the usual case)
                    await asyncio.wait_for(request.read(), read_timeout)
                except asyncio.TimeoutError:
                    return await _answer_and_close(request, web.Response(status=408, text="request body too slow"))
            return await handler(request)
        finally:
            if conn is not None:
                conn.request_ended()

    return limits


def _closing(response: web.Response) -> web.Response:
    response.force_close()
    return response


async def _answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send `response` and close at once: aiohttp would otherwise linger reading the unread body."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response
