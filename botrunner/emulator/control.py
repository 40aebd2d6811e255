"""The control plane under /__control/: JSON in, `{"ok": true, "result": ...}` out.

Tests and load generators use it to play the users' side of Telegram: inject updates, read and
wait for what the bot sent, set membership, blocks, flood limits and faults, reset, and read
getUpdates statistics. Arguments come from the JSON body and/or the query string.
"""
from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from botrunner.emulator import inject, members
from botrunner.emulator.envelope import ApiError, encode, error_response, ok_response
from botrunner.emulator.state import BotState

PREFIX = "/__control"
Handler = Callable[[Any, dict[str, Any]], Awaitable[Any]]


def _fail(description: str, code: int = 400) -> ApiError:
    return ApiError(code, description)


def _need(args: dict[str, Any], name: str) -> Any:
    if args.get(name) in (None, ""):
        raise _fail(f"{name} is required")
    return args[name]


def _state(emulator: Any, args: dict[str, Any]) -> BotState:
    return emulator.bot(str(_need(args, "token")))


async def _inject(emulator: Any, args: dict[str, Any]) -> Any:
    kind = args.pop("kind")
    builder = inject.KINDS.get(kind)
    if builder is None:
        raise _fail(f"unknown update kind {kind!r}; one of {', '.join(inject.KINDS)}", 404)
    state = _state(emulator, args)
    fields = {k: v for k, v in args.items() if k != "token"}
    try:
        return builder(state, **fields)
    except (TypeError, ValueError) as exc:
        raise _fail(str(exc)) from None


async def inject_batch(emulator: Any, args: dict[str, Any]) -> list[Any]:
    """Many injections in one request: items = [{"kind": "message", "user_id": 1, "text": "hi"}, ...]."""
    token = _need(args, "token")
    return [await _inject(emulator, {"token": token, "kind": "message", **item}) for item in args.get("items", [])]


async def sent(emulator: Any, args: dict[str, Any]) -> list[dict[str, Any]]:
    """What the bot did in one chat, in order: [{"index", "method", "text", "message", "time", ...}]."""
    state = _state(emulator, args)
    after = int(args.get("after_index", -1))
    return state.sent.get(int(_need(args, "chat_id")), [])[after + 1:]


async def wait(emulator: Any, args: dict[str, Any]) -> dict[str, Any] | None:
    """Hold until the chat's log has an entry with index > after_index (optionally of some methods),
    made at or after `since` (the server's monotonic time: an inject's inject_monotonic) if given."""
    state = _state(emulator, args)
    chat_id = int(_need(args, "chat_id"))
    after = int(args.get("after_index", -1))
    methods = args.get("methods") or None
    deadline = time.monotonic() + float(args.get("timeout", 10.0))
    log = state.sent.setdefault(chat_id, [])
    try:
        since = None if args.get("since") is None else float(args["since"])
    except (TypeError, ValueError):
        raise _fail("since must be a number (the server's monotonic time)") from None
    while True:
        first = after + 1
        if since is not None:       # the log is in monotonic order: skip what came before in one step
            first = max(first, bisect.bisect_left(log, since, key=lambda entry: entry["monotonic"]))
        for entry in log[first:]:
            if methods is None or entry["method"] in methods:
                return entry
        remaining = deadline - time.monotonic()
        if remaining <= 0 or emulator.bots.get(state.token) is not state:
            return None
        waiter = asyncio.get_running_loop().create_future()
        state.sent_waiters.setdefault(chat_id, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, remaining)
        except asyncio.TimeoutError:
            return None


async def set_member(emulator: Any, args: dict[str, Any]) -> dict[str, Any]:
    state = _state(emulator, args)
    chat_id, user_id = int(_need(args, "chat_id")), int(_need(args, "user_id"))
    members.chat_for(state, chat_id, args.get("chat_type"), args.get("title"), args.get("username"))
    try:
        previous = members.set_status(state, chat_id, user_id, str(_need(args, "status")),
                                      int(args.get("until_date", 0)))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    return {"chat_id": chat_id, "user_id": user_id, "status": args["status"], "previous": previous}


async def set_chat(emulator: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Declare a chat (group, supergroup, channel) so the bot can address it, by id or @username."""
    state = _state(emulator, args)
    return members.chat_for(state, int(_need(args, "chat_id")), args.get("type"), args.get("title"),
                            args.get("username"))


async def set_blocked(emulator: Any, args: dict[str, Any]) -> dict[str, Any]:
    state = _state(emulator, args)
    user_id = int(_need(args, "user_id"))
    if args.get("blocked", True) not in (False, "false", "0", 0):
        state.blocked[user_id] = str(args.get("reason", "blocked"))
    else:
        state.blocked.pop(user_id, None)
    return {"blocked": {str(k): v for k, v in state.blocked.items()}}


async def flood(emulator: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Read or change the flood limits (all tokens); changing them restarts every bucket."""
    changes = {k: v for k, v in args.items() if k != "token"}
    if changes:
        try:
            emulator.flood.update(**changes)
        except (TypeError, ValueError) as exc:
            raise _fail(str(exc)) from None
        for state in emulator.bots.values():
            state.buckets.clear()
    return emulator.flood.as_dict()


async def add_fault(emulator: Any, args: dict[str, Any]) -> dict[str, Any]:
    try:
        fault = emulator.faults.add(**args)
    except (TypeError, ValueError) as exc:
        raise _fail(str(exc)) from None
    return {"id": fault.id}


async def faults(emulator: Any, args: dict[str, Any]) -> list[dict[str, Any]]:
    return emulator.faults.describe()


async def clear_faults(emulator: Any, args: dict[str, Any]) -> dict[str, int]:
    return {"removed": emulator.faults.clear(args.get("token"))}


async def reset(emulator: Any, args: dict[str, Any]) -> bool:
    emulator.reset(args.get("token"))
    return True


async def poll_stats(emulator: Any, args: dict[str, Any]) -> dict[str, Any]:
    return _state(emulator, args).poll.stats()


async def jump_update_id(emulator: Any, args: dict[str, Any]) -> dict[str, int]:
    """Set the next update_id (the real server picks a new random one after a week without updates)."""
    state = _state(emulator, args)
    state.next_update_id = int(args.get("next_update_id") or state.next_update_id + 1_000_000)
    return {"next_update_id": state.next_update_id}


async def summary(emulator: Any, args: dict[str, Any]) -> dict[str, Any]:
    state = _state(emulator, args)
    return {"bot": state.user, "pending_updates": len(state.updates), "next_update_id": state.next_update_id,
            "allowed_updates": state.allowed_updates, "webhook": state.webhook.info() if state.webhook else None,
            "chats": sorted(state.chats), "blocked": sorted(state.blocked),
            "commands": state.commands, "sent_counts": {str(k): len(v) for k, v in state.sent.items()}}


async def health(emulator: Any, args: dict[str, Any]) -> dict[str, Any]:
    return {"tokens": len(emulator.bots)}


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/inject/batch"): inject_batch,
    ("GET", "/sent"): sent, ("POST", "/sent"): sent,
    ("POST", "/wait"): wait,
    ("POST", "/member"): set_member,
    ("POST", "/chat"): set_chat,
    ("POST", "/blocked"): set_blocked,
    ("GET", "/flood"): flood, ("POST", "/flood"): flood,
    ("POST", "/faults"): add_fault, ("GET", "/faults"): faults, ("DELETE", "/faults"): clear_faults,
    ("POST", "/faults/clear"): clear_faults,
    ("POST", "/reset"): reset,
    ("GET", "/poll_stats"): poll_stats,
    ("POST", "/update_id"): jump_update_id,
    ("GET", "/state"): summary,
    ("GET", "/health"): health,
}


async def _args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.body_exists:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise _fail("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise _fail("the body must be a JSON object")
        args.update(body)
    return args


Endpoint = Callable[[web.Request], Awaitable[web.Response]]


def _endpoint(key: web.AppKey[Any], handler: Handler, kind: str | None = None) -> Endpoint:
    async def endpoint(request: web.Request) -> web.Response:
        try:
            args = await _args(request)
            if kind is not None:
                args["kind"] = kind
            return ok_response(await handler(request.app[key], args))
        except ApiError as error:
            return error_response(error)
    return endpoint


def _file_endpoint(key: web.AppKey[Any]) -> Endpoint:
    async def endpoint(request: web.Request) -> web.Response:
        return _file(request.app[key], request)
    return endpoint


def _file(emulator: Any, request: web.Request) -> web.Response:
    """The raw bytes of a file the bot uploaded (sendDocument / sendPhoto), by file_id."""
    try:
        state = emulator.bot(request.query.get("token", ""))
    except ApiError as error:
        return error_response(error)
    record = state.files.get(request.query.get("file_id", ""))
    if record is None or record["data"] is None:
        return web.Response(status=404, body=encode({"ok": False, "error_code": 404,
                                                     "description": "Not Found: no such uploaded file"}),
                            headers={"Content-Type": "application/json"})
    return web.Response(body=record["data"], headers={"Content-Type": record["mime_type"]})


def add_routes(app: web.Application, key: web.AppKey) -> None:
    """Mount every control endpoint on `app`; `app[key]` is the Emulator."""
    for kind in inject.KINDS:
        app.router.add_post(f"{PREFIX}/inject/{kind}", _endpoint(key, _inject, kind))
    for (verb, path), handler in ROUTES.items():
        app.router.add_route(verb, PREFIX + path, _endpoint(key, handler))
    app.router.add_get(f"{PREFIX}/file", _file_endpoint(key))
