"""The admin web as a web feature of the workers' HTTP server (registered by handlers.app with
`router.web_feature`), mounted under /admin when ADMIN_PUBLIC_URL is set.

GET  /admin/login?token=T   redeems a one-time token (handlers.admin_web.auth): 303 to /admin/ with the
                            session cookie; 401 page for a bad, used or expired token; without a token,
                            the page that says to send /login to the bot
POST /admin/logout          (the session's CSRF token as X-CSRF-Token or form field csrf_token) ends the
                            session: 303 to /admin/login
/admin/api/...              the JSON API (handlers.admin_web.api; routes in the api_*.py modules)
Every /admin response carries a strict CSP, no-referrer and no framing; nothing is served from
elsewhere. Sessions and roles live in Redis and the database, so any worker answers any request.
"""
from __future__ import annotations

import hmac
from html import escape

from aiohttp import web
from loguru import logger

from botrunner.config.settings import Settings
from botrunner.web.env import WebEnv

# each api_* module declares its routes when imported
from handlers.admin_web import (  # noqa: F401
    api_audit,
    api_broadcasts,
    api_me,
    api_review,
    api_roles,
    api_security,
    api_settings,
    api_stats,
    api_support,
    api_tasks,
    api_user_actions,
    api_users,
    export,
)
from handlers.admin_web.api import COOKIE, CSRF_HEADER, AdminWeb, guard, mount_api
from handlers.admin_web.auth import LoginTokens
from handlers.admin_web.panel import mount as mount_panel
from handlers.admin_web.roles import role_of
from handlers.admin_web.sessions import Sessions

PREFIX = "/admin"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
       "form-action 'self'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
INVALID = "This login link is invalid, expired or used; send /login to the bot again."
SIGN_IN = "Send /login to the bot to get a sign-in link."


def enabled(settings: Settings) -> bool:
    """Served when ADMIN_PUBLIC_URL is set."""
    return settings.admin_web_on


def mount(app: web.Application, env: WebEnv) -> None:
    admin = build(env)
    sub = web.Application(middlewares=[guard(admin)])
    sub.on_response_prepare.append(security_headers)
    pages = LoginPages(admin)
    sub.router.add_get("/login", pages.login)
    sub.router.add_post("/logout", pages.logout)
    mount_api(sub, admin)
    mount_panel(sub, admin)
    app.add_subapp(PREFIX, sub)


def build(env: WebEnv) -> AdminWeb:
    """The admin web of this worker, over the bot's Runtime (Redis on REDIS_SESSION_DB, the store)."""
    rt = env.services.bot
    s = env.settings
    return AdminWeb(env, rt, LoginTokens(rt.redis, env.keys.prefix, s.admin_login_ttl_s),
                    Sessions(rt.redis, env.keys.prefix, s.admin_session_ttl_s))


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Strict headers on every /admin answer (errors and streamed CSV included), set just before
    the headers are sent (aiohttp's on_response_prepare)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


def page(status: int, message: str) -> web.Response:
    """A minimal HTML page (the panel's pages are rendered elsewhere)."""
    body = (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>Admin</title><p>{escape(message)}</p></html>")
    return web.Response(status=status, text=body, content_type="text/html")


class LoginPages:
    """/admin/login and /admin/logout."""

    def __init__(self, admin: AdminWeb) -> None:
        self.admin = admin
        self.secure = admin.settings.admin_public_url.startswith("https://")

    async def login(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        if not token:
            return page(200, SIGN_IN)
        admin = self.admin
        uid = await admin.call(admin.tokens.redeem, token)
        role = await admin.call(role_of, admin.settings, admin.store.admin_roles, uid) if uid is not None else None
        if uid is None or role is None:
            logger.info("Admin web: a login link was refused (unknown, used or expired, or the role is gone)")
            return page(401, INVALID)
        sid, _ = await admin.call(admin.sessions.create, uid)
        logger.info("Admin web: {} signed in ({})", uid, role)
        response = web.Response(status=303, headers={"Location": PREFIX + "/"})
        response.set_cookie(COOKIE, sid, path=PREFIX, httponly=True, samesite="Strict", secure=self.secure,
                            max_age=admin.settings.admin_session_ttl_s)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        admin = self.admin
        session = await admin.session_of(request)
        if session is not None:
            sent = request.headers.get(CSRF_HEADER) or str((await request.post()).get("csrf_token", ""))
            if not hmac.compare_digest(sent, session.csrf):
                return page(403, "Sign-out needs the page's CSRF token.")
            await admin.call(admin.sessions.end, session)
            logger.info("Admin web: {} signed out", session.uid)
        response = web.Response(status=303, headers={"Location": PREFIX + "/login"})
        response.del_cookie(COOKIE, path=PREFIX)
        return response
