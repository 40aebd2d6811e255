"""The worker's Bot API client: python-telegram-bot's `Bot` over an aiohttp transport.

PTB is kept at the edges (its request building, its `telegram.error` exceptions, its types for
getMe); only the HTTP transport is swapped: PTB's default httpx transport costs about twice the CPU
per call of aiohttp on the same loop (see benchmarks/sender_rate.py), and the worker's CPU is
what limits its send rate. Calls go as one JSON body, encoded once (form encoding cost a multipart
writer, a uuid boundary, a urlencode and a JSON encoding of every object value per call); uploads
(bytes or (file_name, bytes)) go as multipart. A call whose values are all JSON, or JSON plus uploads,
skips PTB's request layers altogether (botrunner/sender/json_call.py and upload_call.py, with PTB's
error mapping); only values neither carries (datetimes, InputMedia with files ...) go through PTB.
"""
from __future__ import annotations

import asyncio
import warnings
from typing import Any

import aiohttp
import telegram
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from telegram.warnings import PTBUserWarning

from botrunner import json_codec
from botrunner.sender.json_call import JSON_HEADERS, JsonCaller, Unplain, encode, plain
from botrunner.sender.upload_call import upload_body, upload_of

# do_api_request warns "use Bot.send_message instead"; we call methods by name on purpose
# (raw dict results, no de_json per reply), so that advice does not apply here
warnings.filterwarnings("ignore", message="Please use 'Bot.", category=PTBUserWarning)


class AiohttpRequest(BaseRequest):
    """A PTB request class on one pooled aiohttp session (keep-alive, `pool_size` connections)."""

    def __init__(self, pool_size: int = 100, timeout_s: float = 30.0, connect_timeout_s: float = 5.0) -> None:
        self.pool_size = pool_size
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self.timeout_s

    async def initialize(self) -> None:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.pool_size),
                                                 headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self.session is None:
            raise RuntimeError("AiohttpRequest is not initialized")
        total = read_timeout if isinstance(read_timeout, (int, float)) else self.timeout_s
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=self.connect_timeout_s)
        body: Any = None
        headers = None
        if request_data is not None and request_data.contains_files:
            body = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                body.add_field(name, value)
            for name, (file_name, content, mime) in request_data.multipart_data.items():
                body.add_field(name, content, filename=file_name, content_type=mime)
        elif request_data is not None:
            # one dumps of the plain values (PTB's json_payload encodes each object value, then the whole)
            body, headers = json_codec.dumps(request_data.parameters), JSON_HEADERS
        try:
            async with self.session.request(method, url, data=body, headers=headers, timeout=timeout) as resp:
                return resp.status, await resp.read()
        except asyncio.TimeoutError as exc:
            raise TimedOut() from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc


def as_input_files(params: dict[str, Any]) -> dict[str, Any]:
    """Queued params with uploads (bytes, or (file_name, bytes)) turned into telegram.InputFile."""
    out = dict(params)
    for name, value in params.items():
        upload = upload_of(name, value)
        if upload is not None:
            out[name] = telegram.InputFile(upload[1], filename=upload[0], attach=False)
    return out


def lean_body(params: dict[str, Any]) -> tuple[bytes, dict[str, str]] | None:
    """(body, headers) for the lean paths: JSON, else a multipart form with the uploads; None: PTB's.
    A call orjson encodes is JSON at once; else a form when a value is an upload (never tried through
    json.dumps first: JSON cannot carry bytes), else JSON through the standard library, else PTB's."""
    body = json_codec.try_dumps(params, plain)
    if body is not None:
        return body, JSON_HEADERS
    try:
        if any(upload_of(name, value) is not None for name, value in params.items()):
            return upload_body(params)
        return encode(params), JSON_HEADERS
    except Unplain:
        return None


class BotApiClient:
    """One per worker, on the worker's event loop: `call(method, params)` -> raw result or telegram.error."""

    def __init__(self, api_url: str, token: str, pool_size: int = 100, timeout_s: float = 30.0,
                 transport: str = "aiohttp") -> None:
        base = api_url.rstrip("/")
        request = (AiohttpRequest(pool_size, timeout_s) if transport == "aiohttp" else
                   HTTPXRequest(connection_pool_size=pool_size, read_timeout=timeout_s, pool_timeout=timeout_s))
        self.bot = telegram.Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot", request=request)
        self.request = request if isinstance(request, AiohttpRequest) else None
        self.lean = JsonCaller(f"{base}/bot{token}", timeout_s)

    async def open(self) -> None:
        await self.bot.request.initialize()     # not bot.initialize(): that calls getMe, which may fail

    async def close(self) -> None:
        await self.bot.request.shutdown()

    async def get_me(self) -> telegram.User:
        """getMe as a telegram.User (its username makes "/cmd@otherbot" not ours)."""
        return await self.bot.get_me()

    async def call(self, method: str, params: dict[str, Any], timeout_s: float | None = None) -> Any:
        """One Bot API call; raises telegram.error.RetryAfter / Forbidden / BadRequest / NetworkError ...
        Plain JSON calls and uploads take the lean paths; other values go through PTB."""
        session = self.request.session if self.request is not None else None
        if session is not None and "_" not in method:      # PTB turns send_message into sendMessage
            lean = lean_body(params)
            if lean is not None:
                return await self.lean.post(session, method, *lean, timeout_s=timeout_s)
        if timeout_s is None:
            return await self.bot.do_api_request(method, as_input_files(params))
        return await self.bot.do_api_request(method, as_input_files(params), read_timeout=timeout_s)
