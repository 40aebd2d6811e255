"""The admin JSON API's route registry and its guard.

Routes are declared with `@route("GET", "/users", role="viewer")` on `async fn(req: AdminRequest)`
returning a dict (sent as `{"ok": true, ...}`) or a StreamResponse (CSV). Invariant, enforced by
`guard` for every path under /admin/api/ before any route code runs: no valid session -> 401
(also for unknown paths, so nothing is learnt without a login); a role below the route's -> 403;
POST/PUT/PATCH/DELETE without the session's X-CSRF-Token -> 403. Errors are JSON
`{"ok": false, "error": ..., "field"?: ...}`. Storage and Redis calls are synchronous: routes run them
with `req.call(...)` in a thread, never on the worker's event loop.
"""
from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from loguru import logger

from botrunner.intake.events import store_event
from handlers.admin_web import audit
from handlers.admin_web.roles import RANK, allows, role_of

if TYPE_CHECKING:
    from botrunner.config.settings import Settings
    from botrunner.web.env import WebEnv
    from handlers.admin_web.auth import LoginTokens
    from handlers.admin_web.sessions import Session, Sessions
    from handlers.runtime import Runtime
    from storage.admin_records import AuditEntry
    from storage.base import Store

T = TypeVar("T")
API = "/admin/api"
COOKIE = "botrunner_admin"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOTICE = "admin_web.notice"          # the bot event that sends an admin's text to a user (handlers.admin_web.bot)
RouteFn = Callable[["AdminRequest"], Awaitable[dict[str, Any] | web.StreamResponse]]


class ApiError(Exception):
    """Raised by a route: the guard answers `{"ok": false, "error": reason, "field"?}` with `status`."""

    def __init__(self, status: int, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.field = status, reason, field

    def response(self) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error": self.reason}
        if self.field is not None:
            body["field"] = self.field
        return web.json_response(body, status=self.status)


def invalid(field: str, reason: str) -> ApiError:
    """A 400 about one field of the request."""
    return ApiError(400, f"{field}: {reason}", field)


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str            # below /admin/api, e.g. "/users/{id}"
    role: str
    fn: RouteFn


ROUTES: list[ApiRoute] = []


def route(method: str, path: str, role: str) -> Callable[[RouteFn], RouteFn]:
    """Declare an API route and the least role it needs."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}")

    def register(fn: RouteFn) -> RouteFn:
        if any(r.method == method and r.path == path for r in ROUTES):
            raise ValueError(f"{method} {API}{path} is declared twice")
        ROUTES.append(ApiRoute(method, path, role, fn))
        return fn
    return register


@dataclass
class AdminWeb:
    """What the admin web of one worker uses: the worker's web env, the bot's Runtime, tokens, sessions."""

    env: WebEnv
    rt: Runtime
    tokens: LoginTokens
    sessions: Sessions

    @property
    def settings(self) -> Settings:
        return self.env.settings

    @property
    def store(self) -> Store:
        return self.rt.store

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous storage/Redis call in a thread (the event loop never blocks on it)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def notify(self, user_id: int, text: str) -> int:
        """Send `text` to a user through the bot: a bot event on the user's lane, sent once by the
        pipeline's outbox in order with the user's own updates. Returns the event's update id."""
        return await store_event(self.env.redis, self.env.keys, self.settings.lanes, NOTICE, user_id, {"text": text})

    async def session_of(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(COOKIE, "")
        return await self.call(self.sessions.get, sid) if sid else None


@dataclass
class AdminRequest:
    """One authorised API request: the admin (id and role now) and their session."""

    admin: AdminWeb
    request: web.Request
    admin_id: int
    role: str
    session: Session

    @property
    def store(self) -> Store:
        return self.admin.store

    @property
    def settings(self) -> Settings:
        return self.admin.settings

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.admin.call(fn, *args, **kwargs)

    async def body(self) -> dict[str, Any]:
        """The JSON object of the request body (400 otherwise)."""
        try:
            data = json.loads(await self.request.read() or b"{}")
        except ValueError:
            raise ApiError(400, "body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "body is not a JSON object")
        return data

    def audited(self, action: str, target: str, before: Any, after: Any) -> AuditEntry:
        """Write the audit row of a change (synchronous: call it inside the thread that made the change)."""
        return audit.write(self.store, self.admin_id, self.role, action, target, before, after)


def mount_api(app: web.Application, admin: AdminWeb) -> None:
    """Add every declared route under /admin/api to `app` (the /admin sub-application)."""
    for spec in ROUTES:
        app.router.add_route(spec.method, API.removeprefix("/admin") + spec.path, _marked(spec))


def _marked(spec: ApiRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def never_called_unguarded(request: web.Request) -> web.StreamResponse:
        raise web.HTTPForbidden()                 # the guard runs `spec.fn` itself
    never_called_unguarded.admin_route = spec     # type: ignore[attr-defined]
    return never_called_unguarded


def guard(admin: AdminWeb) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware of the /admin sub-application for API paths (see the module docstring)."""
    @web.middleware
    async def check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        if not request.path.startswith(API + "/") and request.path != API:
            return await handler(request)
        try:
            return await _answer(admin, request)
        except ApiError as exc:
            return exc.response()
    return check


async def _answer(admin: AdminWeb, request: web.Request) -> web.StreamResponse:
    session = await admin.session_of(request)
    if session is None:
        raise ApiError(401, "not signed in (send /login to the bot)")
    role = await admin.call(role_of, admin.settings, admin.store.admin_roles, session.uid)
    if role is None:
        raise ApiError(403, "this account has no admin web role any more")
    spec: ApiRoute | None = getattr(request.match_info.handler, "admin_route", None)
    if spec is None:
        status = getattr(request.match_info.http_exception, "status", 404)
        raise ApiError(status, "no such route" if status == 404 else "method not allowed")
    if not allows(role, spec.role):
        raise ApiError(403, f"needs the {spec.role} role (you are {role})")
    if request.method in UNSAFE and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), session.csrf):
        raise ApiError(403, f"missing or wrong {CSRF_HEADER} (take it from GET {API}/me)")
    try:
        result = await spec.fn(AdminRequest(admin, request, session.uid, role, session))
    except ApiError:
        raise
    except Exception:
        logger.exception("Admin API {} {} failed", request.method, request.path)
        raise ApiError(500, "internal error (see the worker's log)") from None
    return result if isinstance(result, web.StreamResponse) else web.json_response({"ok": True, **result})
