"""The admin panel's pages under /admin/ (part of the admin web feature; http.py's mount calls `mount`).

Invariant: a page carries no data. It is a server-rendered frame (the layout, the labels in the
admin's language, the forms the admin's role may use) that static/admin.js fills from the JSON API
with the admin's own session, so every datum the panel shows went through the API's role and CSRF
checks. A page without a session is a 303 to /admin/login, which says to send /login to the bot; a
page above the admin's role is a 403 page. The strict CSP and anti-framing headers of every /admin
answer are set in one place, http.py's `security_headers`; nothing here is inline, so script-src and
style-src 'self' hold (the texts for admin.js travel in a data attribute).
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from handlers.admin_web.roles import allows, role_of
from handlers.texts import Texts

if TYPE_CHECKING:
    from handlers.admin_web.api import AdminWeb

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
LOGIN_PATH = "/admin/login"
TEXTS_KEY = web.AppKey("admin_panel_texts", Texts)


@dataclass(frozen=True)
class PanelAdmin:
    """The signed-in admin, as the pages need it."""

    id: int
    role: str
    name: str = ""


async def signed_in(admin: AdminWeb, request: web.Request) -> PanelAdmin | None:
    """The admin of this request's session cookie, or None (no, unknown or expired session, or no role now)."""
    session = await admin.session_of(request)
    if session is None:
        return None
    role = await admin.call(role_of, admin.settings, admin.store.admin_roles, session.uid)
    if role is None:
        return None
    user = await admin.call(admin.store.users.get, session.uid)
    name = (user.first_name or (f"@{user.username}" if user.username else "")) if user else ""
    return PanelAdmin(session.uid, role, name or str(session.uid))


@dataclass(frozen=True)
class Screen:
    """One page: its path under /admin, the least role that opens it, its template and filter choices."""

    name: str
    path: str
    role: str = "viewer"
    template: str = ""
    statuses: tuple[str, ...] = ()      # the queue screens' status filter, first = default
    nav: bool = True

    @property
    def page(self) -> str:
        return self.template or f"{self.name}.html"


SCREENS = (
    Screen("dashboard", "/"),
    Screen("users", "/users"),
    Screen("tasks", "/tasks"),
    Screen("submissions", "/submissions", template="queue.html", statuses=("pending", "approved", "rejected")),
    Screen("withdrawals", "/withdrawals", template="queue.html", statuses=("pending", "paid", "failed")),
    Screen("tickets", "/tickets", template="queue.html", statuses=("open", "answered", "closed")),
    Screen("broadcasts", "/broadcasts"),
    Screen("security", "/security"),
    Screen("settings", "/settings", role="admin"),
    Screen("roles", "/roles", role="super_admin"),
    Screen("audit", "/audit", role="admin"),
    Screen("user", r"/users/{id:\d+}", nav=False),
)


def mount(sub: web.Application, admin: AdminWeb) -> None:
    """Add the pages and the static files to the /admin sub-app (before it is added to the server's app)."""
    aiohttp_jinja2.setup(sub, loader=jinja2.PackageLoader("handlers.admin_web", "templates"),
                         autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined)
    sub[TEXTS_KEY] = Texts(admin.settings.texts_dir)
    for screen in SCREENS:
        sub.router.add_get(screen.path, page_handler(admin, screen), name=f"panel-{screen.name}")
    sub.router.add_static("/static", STATIC, name="panel-static")


@functools.cache
def asset_version() -> str:
    """A short hash of the static files, appended to their URLs so a new release is never served stale."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def page_handler(web_admin: AdminWeb, screen: Screen) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        admin = await signed_in(web_admin, request)
        if admin is None:
            raise web.HTTPSeeOther(LOGIN_PATH)
        if not allows(admin.role, screen.role):
            return render_message(request, "panel_forbidden", status=403, admin=admin)
        return aiohttp_jinja2.render_template(screen.page, request, frame(request, screen, admin))
    return handle


def frame(request: web.Request, screen: Screen, admin: PanelAdmin) -> dict[str, Any]:
    """What every page's template gets: the texts, the admin, what the role may see."""
    lang, texts = language(request)
    return {"screen": screen, "admin": admin, "lang": lang, "version": asset_version(), "t": translator(texts, lang),
            "texts": panel_texts(texts, lang), "nav": [s for s in SCREENS if s.nav and allows(admin.role, s.role)],
            "can": lambda role: allows(admin.role, role), "target": request.match_info.get("id", "")}


def render_message(request: web.Request, key: str, status: int = 200,
                   admin: PanelAdmin | None = None) -> web.Response:
    """A plain page with one sentence (the login hint, the role refusal), in the admin's language."""
    lang, texts = language(request)
    context = {"lang": lang, "t": translator(texts, lang), "message": texts.get(lang, key), "admin": admin,
               "version": asset_version()}
    return aiohttp_jinja2.render_template("message.html", request, context, status=status)


def render_login_page(request: web.Request, status: int = 200, invalid: bool = False) -> web.Response:
    """The page for /admin/login without a valid token: send /login to the bot (again, when `invalid`)."""
    return render_message(request, "panel_login_invalid" if invalid else "panel_login_hint", status=status)


def language(request: web.Request) -> tuple[str, Texts]:
    """The admin's language: ?lang=, else the browser's first Accept-Language, else English."""
    texts = request.config_dict[TEXTS_KEY]
    wanted = request.query.get("lang") or request.headers.get("Accept-Language", "").split(",")[0].split(";")[0]
    return texts.pick(wanted.strip()), texts


def translator(texts: Texts, lang: str) -> Callable[..., str]:
    def t(key: str, **values: Any) -> str:
        return texts.get(lang, f"panel_{key}", **values)
    return t


def panel_texts(texts: Texts, lang: str) -> dict[str, str]:
    """Every panel text of `lang` (English where missing), unformatted, for admin.js."""
    english = texts.catalogs["en"]
    chosen = texts.catalogs.get(lang, {})
    return {key[len("panel_"):]: chosen.get(key, value) for key, value in english.items() if key.startswith("panel_")}
