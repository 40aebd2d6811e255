"""The aiohttp application: routing `/bot<token>/<method>`, dispatch, and the Emulator that owns all state.

Dispatch order for one call: token check (401), method lookup (404), parameter decoding,
scripted faults, then the method. Any ApiError becomes the error envelope with HTTP status ==
error_code; anything else is a 500 and a logged traceback.
"""
from __future__ import annotations

import copy
import re

import aiohttp
from aiohttp import web
from loguru import logger

from botrunner.emulator import control
from botrunner.emulator.envelope import (
    INVALID_TOKEN,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    ApiError,
    error_response,
    ok_response,
)
from botrunner.emulator.faults import FaultBook
from botrunner.emulator.files import download
from botrunner.emulator.methods import METHODS
from botrunner.emulator.options import EmulatorOptions
from botrunner.emulator.params import Params, read_params
from botrunner.emulator.polling import LongPoll
from botrunner.emulator.state import BotState

TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{1,200}")
EMULATOR: web.AppKey[Emulator] = web.AppKey("emulator")
MAX_UPLOAD = 50 * 1024 * 1024    # the Bot API's upload limit


class Emulator:
    """All state of one running server: a BotState per token, the faults, the flood limits."""

    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.flood = copy.deepcopy(options.flood)
        self.faults = FaultBook()
        self.bots: dict[str, BotState] = {}
        self._http: aiohttp.ClientSession | None = None

    def bot(self, token: str) -> BotState:
        """The state of `token`, created on first use; a malformed token raises the 401."""
        state = self.bots.get(token)
        if state is None:
            if not TOKEN.fullmatch(token):
                raise INVALID_TOKEN
            state = self.bots[token] = BotState(token, self.options)
            state.poll = LongPoll(self.options.poll_history)
        return state

    def http(self) -> aiohttp.ClientSession:
        """The client session webhook deliveries share (created lazily inside the loop)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._http

    def reset(self, token: str | None = None) -> None:
        """Forget one token (or everything: tokens, faults, flood limits back to the start-up options)."""
        tokens = [token] if token is not None else list(self.bots)
        for name in tokens:
            state = self.bots.pop(name, None)
            if state is not None:
                state.close()
        if token is None:
            self.faults.clear()
            self.flood = copy.deepcopy(self.options.flood)
        else:
            self.faults.clear(token)

    async def call(self, state: BotState, method_name: str, params: Params) -> web.Response:
        """Run one Bot API method for `state` and wrap the outcome in the envelope."""
        name = method_name.lower()
        method = METHODS.get(name)
        if method is None:
            return error_response(METHOD_NOT_FOUND)
        try:
            await self.faults.apply(name, state.token, params)
            result = await method(self, state, params)
        except ApiError as error:
            return error_response(error)
        if isinstance(result, web.Response):
            return result
        return ok_response(result)

    async def close(self) -> None:
        for state in self.bots.values():
            state.close()
        if self._http is not None:
            await self._http.close()


async def handle_bot_request(request: web.Request) -> web.Response:
    emulator: Emulator = request.app[EMULATOR]
    try:
        state = emulator.bot(request.match_info["token"])
    except ApiError as error:
        return error_response(error)
    if request.match_info["method"].lower() not in METHODS:
        return error_response(METHOD_NOT_FOUND)
    try:
        params = await read_params(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPException as exc:          # e.g. 413 for an upload over the 50 MB limit
        return error_response(ApiError(exc.status, exc.reason))
    try:
        return await emulator.call(state, request.match_info["method"], params)
    except Exception:
        logger.exception("emulator: {} failed", request.match_info["method"])
        return error_response(ApiError(500, "Internal Server Error"))


async def handle_file(request: web.Request) -> web.Response:
    emulator: Emulator = request.app[EMULATOR]
    try:
        state = emulator.bot(request.match_info["token"])
    except ApiError as error:
        return error_response(error)
    return download(state, request.match_info["path"])


async def handle_unknown(request: web.Request) -> web.Response:
    return error_response(NOT_FOUND)


async def _on_shutdown(app: web.Application) -> None:
    await app[EMULATOR].close()


def make_app(options: EmulatorOptions | None = None) -> web.Application:
    """A ready aiohttp application; `app[EMULATOR]` is its Emulator."""
    app = web.Application(client_max_size=MAX_UPLOAD)
    app[EMULATOR] = Emulator(options or EmulatorOptions())
    app.router.add_route("*", "/bot{token}/{method}", handle_bot_request)
    app.router.add_route("GET", "/file/bot{token}/{path:.+}", handle_file)
    control.add_routes(app, EMULATOR)
    app.router.add_route("*", "/{tail:.*}", handle_unknown)
    app.on_shutdown.append(_on_shutdown)
    return app
