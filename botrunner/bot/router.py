"""The handler router: commands, callback-data prefixes, conversation states, text, any update; nested
routers, outer middlewares, filters, worker start/stop hooks and error hooks.

Handlers are plain synchronous functions taking a `Context`; they never await and never talk HTTP.
Routers nest with `include_router` (one per feature module, included by the bot's root router);
resolution always runs over the whole tree from the root. Order for one update:
- a callback query: the longest matching callback prefix in the tree;
- a message: a command for this bot (so /cancel works inside a conversation), then a handler of the
  chat's conversation state (text only, unless the registration has filters, e.g. photos), then a
  text handler (plain text, not commands);
- then, for anything not matched yet (and a command addressed to another bot), the `update`
  registrations in registration order (`default()` is one without filters).
A registration matches only if all of its filters pass. Registering a command, callback prefix or
state handler twice anywhere in one tree raises `DuplicateRoute` at import time.

Middlewares (`fn(ctx, call_next)`) run around every update, matched or not (`ctx.flags` holds the
matched registration's flags, `{}` when none): the root router's first, then those of each router
down to the one owning the handler. A middleware stops the update by not calling `call_next`.
Error hooks (`fn(ctx, exc)`) see a handler's or middleware's exception; it still propagates, so the
update is retried and, after MAX_ATTEMPTS, dead-lettered.
A bot also brings web features (`web_feature(module)`, botrunner.web.server.Feature): the worker
mounts `FEATURES + root.web_features` (every router's features of the tree, once each).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from botrunner.bot import raw_update
from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context, Services
from botrunner.bot.filters import Filter, content
from botrunner.metrics import record

if TYPE_CHECKING:
    from botrunner.web.server import Feature

Handler = Callable[[Context], None]
CallNext = Callable[[Context], None]
WorkerHook = Callable[[Services], None]
ErrorHook = Callable[[Context, BaseException], None]


class Middleware(Protocol):
    def __call__(self, ctx: Context, call_next: CallNext, /) -> None: ...


class DuplicateRoute(ValueError):
    """A command, callback prefix or state handler registered twice in one router tree."""


_TEXT_ONLY = (content("text"),)


@dataclass
class Route:
    """One registration: the handler, its filters and flags, and the router that owns it."""

    handler: Handler
    router: Router
    filters: tuple[Filter, ...] = ()
    flags: dict[str, Any] = field(default_factory=dict)
    label: str = ""          # "command:start", "callback:claim:", "state:x", "text", "update", "default" (metrics)

    def matches(self, ctx: Context) -> bool:
        return all(check(ctx) for check in self.filters)


def _noop(ctx: Context) -> None:
    return None


class Router:
    """Maps updates to handlers. Build one at import time per feature module; the root one is loaded
    by workers (BOT_HANDLERS=module:attribute)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.parent: Router | None = None
        self.children: list[Router] = []
        self.commands: dict[str, Route] = {}
        self.callbacks: dict[str, Route] = {}
        self.states: dict[str, list[Route]] = {}
        self.texts: list[Route] = []
        self.updates: list[Route] = []
        self.middlewares: list[Middleware] = []
        self.startup_hooks: list[WorkerHook] = []
        self.stop_hooks: list[WorkerHook] = []
        self.error_hooks: list[ErrorHook] = []
        self.allowed_updates: list[str] = []     # kinds setWebhook asks Telegram for (root router); []: the default set
        self.own_web_features: list[Feature] = []

    def __repr__(self) -> str:
        return f"Router({self.name!r})"

    # --- the tree ---
    def include_router(self, child: Router) -> Router:
        """Make `child` part of this router's tree (once); its registrations must not clash."""
        if child.parent is not None or child is self.root() or any(r is child for r in self.walk()):
            raise ValueError(f"{child!r} is already part of a router tree")
        for other in child.walk():
            for name in other.commands:
                self._check_free("command", name)
            for prefix in other.callbacks:
                self._check_free("callback prefix", prefix)
            for state, routes in other.states.items():
                for route in routes:
                    self._check_free("state", state, route.filters)
        child.parent = self
        self.children.append(child)
        return child

    def root(self) -> Router:
        router = self
        while router.parent is not None:
            router = router.parent
        return router

    def walk(self) -> Iterator[Router]:
        """This router and every router included below it, depth first in inclusion order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def _check_free(self, kind: str, key: str, filters: tuple[Filter, ...] = ()) -> None:
        for router in self.root().walk():
            if _registered(router, kind, key, filters):
                raise DuplicateRoute(f"{kind} {key!r} is already registered (in {router!r})")

    # --- registrations ---
    def command(self, *names: str, flags: dict[str, Any] | None = None,
                filters: tuple[Filter, ...] = ()) -> Callable[[Handler], Handler]:
        """Register a handler for /name (also /name@botusername); names are case-insensitive."""
        def register(handler: Handler) -> Handler:
            for raw in names:
                name = raw.lower().lstrip("/")
                self._check_free("command", name)
                self.commands[name] = Route(handler, self, tuple(filters), dict(flags or {}), f"command:{name}")
            return handler
        return register

    def callback(self, prefix: str | type[CallbackData], flags: dict[str, Any] | None = None,
                 filters: tuple[Filter, ...] = ()) -> Callable[[Handler], Handler]:
        """Register a handler for callback queries whose data starts with `prefix` (or a CallbackData
        class: its packed form)."""
        key = prefix if isinstance(prefix, str) else prefix.match_prefix()

        def register(handler: Handler) -> Handler:
            self._check_free("callback prefix", key)
            self.callbacks[key] = Route(handler, self, tuple(filters), dict(flags or {}), f"callback:{key}")
            return handler
        return register

    def state(self, name: str, *filters: Filter, flags: dict[str, Any] | None = None) -> Callable[[Handler], Handler]:
        """Register the handler for messages while the chat's conversation state is `name`: text
        messages, or those the filters accept (e.g. `content("text", "photo")`)."""
        checks = tuple(filters) or _TEXT_ONLY

        def register(handler: Handler) -> Handler:
            self._check_free("state", name, checks)
            self.states.setdefault(name, []).append(Route(handler, self, checks, dict(flags or {}), f"state:{name}"))
            return handler
        return register

    def text(self, *filters: Filter, flags: dict[str, Any] | None = None) -> Callable[[Handler], Handler]:
        """Register a handler for plain text messages (not commands) outside any conversation state."""
        def register(handler: Handler) -> Handler:
            self.texts.append(Route(handler, self, tuple(filters), dict(flags or {}), "text"))
            return handler
        return register

    def update(self, *filters: Filter, flags: dict[str, Any] | None = None) -> Callable[[Handler], Handler]:
        """Register a handler for updates nothing more specific matched and the filters accept."""
        def register(handler: Handler) -> Handler:
            self.updates.append(Route(handler, self, tuple(filters), dict(flags or {}),
                                      "update" if filters else "default"))
            return handler
        return register

    def default(self, flags: dict[str, Any] | None = None) -> Callable[[Handler], Handler]:
        """Register the handler for every update nothing else matched."""
        return self.update(flags=flags)

    def middleware(self, fn: Middleware) -> Middleware:
        """Register an outer middleware `fn(ctx, call_next)` (see the module docstring)."""
        self.middlewares.append(fn)
        return fn

    def on_worker_start(self, hook: WorkerHook) -> WorkerHook:
        """Register `hook(services)`, run in each worker after fork (open repositories, add flush hooks)."""
        self.startup_hooks.append(hook)
        return hook

    def on_worker_stop(self, hook: WorkerHook) -> WorkerHook:
        """Register `hook(services)`, run when the worker stops after draining (close storage)."""
        self.stop_hooks.append(hook)
        return hook

    def on_error(self, hook: ErrorHook) -> ErrorHook:
        """Register `hook(ctx, exc)` for exceptions of handlers and middlewares of this router (and the
        routers below it); the exception still propagates (the update is retried)."""
        self.error_hooks.append(hook)
        return hook

    def web_feature(self, feature: Feature) -> Feature:
        """Register a web feature module (`enabled(settings)`, `mount(app, env)`) the workers' HTTP
        server mounts for this bot, after the runner's own (botrunner.web.server.FEATURES)."""
        if not any(f is feature for f in self.own_web_features):
            self.own_web_features.append(feature)
        return feature

    @property
    def web_features(self) -> list[Feature]:
        """Every web feature of this router's tree, in registration order, each once."""
        found: list[Feature] = []
        for router in self.walk():
            found += [f for f in router.own_web_features if not any(f is seen for seen in found)]
        return found

    # --- running ---
    def resolve(self, ctx: Context) -> Route | None:
        """The registration for this update, or None (the update is acknowledged unhandled)."""
        routers = list(self.root().walk())
        if ctx.callback_data is not None:
            data = ctx.callback_data
            found = [(len(p), route) for r in routers for p, route in r.callbacks.items()
                     if data.startswith(p) and route.matches(ctx)]
            if found:
                return max(found, key=lambda item: item[0])[1]
        elif raw_update.message_of(ctx.raw) is not None:
            route = self._resolve_message(ctx, routers)
            if route is not None:
                return route
        return _first(ctx, (route for r in routers for route in r.updates))

    def _resolve_message(self, ctx: Context, routers: list[Router]) -> Route | None:
        text = ctx.text
        name = ctx.command
        if name is None and text is not None and len(text) > 1 and text.startswith("/"):
            return None                      # a command addressed to another bot
        if name is not None:
            route = next((r.commands[name] for r in routers if name in r.commands), None)
            if route is not None and route.matches(ctx):
                return route
        state = ctx.state
        if state is not None:
            route = _first(ctx, (route for r in routers for route in r.states.get(state, ())))
            if route is not None:
                return route
        if name is None and text is not None:
            return _first(ctx, (route for r in routers for route in r.texts))
        return None

    def handle(self, ctx: Context) -> bool:
        """Run the middlewares and the matching handler synchronously; False when nothing matched."""
        route = self.resolve(ctx)
        ctx.matched = route is not None
        ctx.flags = dict(route.flags) if route else {}
        ctx.route = route.label if route else "none"
        owner = route.router if route else self.root()
        call: CallNext = route.handler if route else _noop
        for router in _ancestors(owner):              # the owner's innermost, the root's outermost
            for mw in reversed(router.middlewares):
                call = _bind(mw, call)
        try:
            with record.handler_timer(ctx.route):     # middlewares included: what the update cost
                call(ctx)
        except Exception as exc:
            for router in _ancestors(owner):
                for hook in router.error_hooks:
                    try:
                        hook(ctx, exc)
                    except Exception as hook_exc:
                        logger.opt(exception=hook_exc).error("Error hook {} failed", getattr(hook, "__name__", hook))
            raise
        return route is not None

    def worker_started(self, services: Services) -> None:
        """Run every on_worker_start hook of the tree (the worker turns a failure into a boot error)."""
        for router in self.walk():
            for hook in router.startup_hooks:
                hook(services)

    def worker_stopped(self, services: Services) -> None:
        """Run every on_worker_stop hook of the tree, innermost routers first; failures are logged."""
        for router in reversed(list(self.walk())):
            for hook in router.stop_hooks:
                try:
                    hook(services)
                except Exception as exc:
                    logger.opt(exception=exc).error("Stop hook {} failed", getattr(hook, "__name__", hook))

    def all_startup_hooks(self) -> list[WorkerHook]:
        return [hook for router in self.walk() for hook in router.startup_hooks]


def _bind(mw: Middleware, call_next: CallNext) -> CallNext:
    return lambda ctx: mw(ctx, call_next)


def _ancestors(router: Router) -> Iterator[Router]:
    node: Router | None = router
    while node is not None:
        yield node
        node = node.parent


def _first(ctx: Context, routes: Iterator[Route]) -> Route | None:
    return next((route for route in routes if route.matches(ctx)), None)


def _registered(router: Router, kind: str, key: str, filters: tuple[Filter, ...]) -> bool:
    if kind == "command":
        return key in router.commands
    if kind == "callback prefix":
        return key in router.callbacks
    return any(route.filters == filters for route in router.states.get(key, ()))


def load_router(spec: str) -> Router:
    """Import 'module.path:attribute' (BOT_HANDLERS) and check it is a Router."""
    import importlib
    module_name, _, attribute = spec.partition(":")
    router = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(router, Router):
        raise TypeError(f"BOT_HANDLERS={spec!r} names a {type(router).__name__}, not a botrunner Router")
    return router
