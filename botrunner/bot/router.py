"""The handler router: commands, callback-data prefixes, conversation states, plain text.

Handlers are plain synchronous functions taking a `Context`; they never await and never talk
HTTP. Resolution order for one update: callback prefix (longest first) for callback queries;
for messages, a command first (so /cancel works inside a conversation), then the handler of the
chat's conversation state, then the text handler; anything else goes to the fallback, if any.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botrunner.bot.context import Context
from botrunner.metrics import record

Handler = Callable[[Context], None]
StartupHook = Callable[[Any], None]


class Router:
    """Maps updates to handlers. Build one at import time in the bot's module; workers load it."""

    def __init__(self) -> None:
        self.commands: dict[str, Handler] = {}
        self.callbacks: list[tuple[str, Handler]] = []
        self.states: dict[str, Handler] = {}
        self.text_handler: Handler | None = None
        self.fallback: Handler | None = None
        self.startup_hooks: list[StartupHook] = []

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        """Register a handler for /name (also /name@botusername); names are case-insensitive."""
        def register(handler: Handler) -> Handler:
            for name in names:
                self.commands[name.lower().lstrip("/")] = handler
            return handler
        return register

    def callback(self, prefix: str) -> Callable[[Handler], Handler]:
        """Register a handler for callback queries whose data starts with `prefix`."""
        def register(handler: Handler) -> Handler:
            self.callbacks.append((prefix, handler))
            self.callbacks.sort(key=lambda item: len(item[0]), reverse=True)
            return handler
        return register

    def state(self, name: str) -> Callable[[Handler], Handler]:
        """Register the handler for plain messages while the chat's conversation state is `name`."""
        def register(handler: Handler) -> Handler:
            self.states[name] = handler
            return handler
        return register

    def text(self) -> Callable[[Handler], Handler]:
        """Register the handler for plain text messages outside any conversation state."""
        def register(handler: Handler) -> Handler:
            self.text_handler = handler
            return handler
        return register

    def default(self) -> Callable[[Handler], Handler]:
        """Register the handler for every update nothing else matched."""
        def register(handler: Handler) -> Handler:
            self.fallback = handler
            return handler
        return register

    def on_worker_start(self, hook: StartupHook) -> StartupHook:
        """Register `hook(services)`, run in each worker after fork (open repositories, add flush hooks)."""
        self.startup_hooks.append(hook)
        return hook

    def resolve(self, ctx: Context) -> Handler | None:
        """The handler for this update, or None (the update is acknowledged unhandled)."""
        return self.match(ctx)[1]

    def match(self, ctx: Context) -> tuple[str, Handler | None]:
        """The route (a label naming the registration: "command:start", "callback:claim:", "state:x",
        "text", "default"; bounded by what the bot registered) and the handler of this update."""
        if ctx.callback_data is not None:
            for prefix, handler in self.callbacks:
                if ctx.callback_data.startswith(prefix):
                    return f"callback:{prefix}", handler
            return self._fallback()
        if ctx.text is not None:
            name = ctx.command
            if name is None and len(ctx.text) > 1 and ctx.text.startswith("/"):
                return self._fallback()              # a command addressed to another bot
            if name is not None and name in self.commands:
                return f"command:{name}", self.commands[name]
            state = ctx.state
            if state is not None and state in self.states:
                return f"state:{state}", self.states[state]
            if name is None and self.text_handler is not None:
                return "text", self.text_handler
        return self._fallback()

    def _fallback(self) -> tuple[str, Handler | None]:
        return ("default", self.fallback) if self.fallback is not None else ("none", None)

    def handle(self, ctx: Context) -> bool:
        """Run the matching handler synchronously (timed under its route); False when none matched."""
        ctx.route, handler = self.match(ctx)
        if handler is None:
            return False
        with record.handler_timer(ctx.route):
            handler(ctx)
        return True


def load_router(spec: str) -> Router:
    """Import 'module.path:attribute' (BOT_HANDLERS) and check it is a Router."""
    import importlib
    module_name, _, attribute = spec.partition(":")
    router = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(router, Router):
        raise TypeError(f"BOT_HANDLERS={spec!r} names a {type(router).__name__}, not a botrunner Router")
    return router
