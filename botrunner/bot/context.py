"""What a handler receives: the update, the services of its worker, and queued Bot API calls.

`reply / send / edit / answer / call` only queue (method, params) in `ctx.outbox`; the worker
sends them in order on its event loop after the handler returns and the writes are durable.
Conversation writes (`set_state`, `set_state_data`, ...) are staged the same way: the handler reads
its own writes, and the worker stores them when the update completes (`commit_state`), so a
handler re-run after a crash or an exception sees the conversation as it was before.
The update is parsed into a `telegram.Update` only when something reads `ctx.update`: `chat_id`,
`user_id`, `text`, `command` and `callback_data` read the raw dict (botrunner.bot.raw_update), so a
handler that needs no more never pays for the parse.
`ctx.data` holds what middlewares hand to handlers (the verified callback payload, the user, ...).
`Services` is the per-worker seam for repositories and caches (the storage layer registers them
in a `router.on_worker_start` hook) and for the flush hooks run before an update is acknowledged.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import telegram

from botrunner.bot import raw_update
from botrunner.bot.events import event_user
from botrunner.bot.states import Conversation, MemoryStates, StateStore


class ServiceRegistry(Protocol):
    """What an `on_worker_start` hook (and storage.factory.install) needs of the worker's services."""

    def provide(self, name: str, value: Any) -> None: ...

    def add_flush_hook(self, hook: Callable[[], Any]) -> None: ...

    def on_blocked_bot(self, hook: Callable[[int, bool], Any]) -> None: ...


class Services:
    """Per-worker objects handlers share (repositories, caches) plus the 'make writes durable' hooks."""

    def __init__(self, **provided: Any) -> None:
        self.provided: dict[str, Any] = dict(provided)
        self.flush_hooks: list[Callable[[], Any]] = []
        self.blocked_bot_hooks: list[Callable[[int, bool], Any]] = []

    def provide(self, name: str, value: Any) -> None:
        """Make `value` available to handlers as `ctx.services.<name>`."""
        self.provided[name] = value

    def add_flush_hook(self, hook: Callable[[], Any]) -> None:
        """Run `hook()` (in a handler thread) after each handler, before its update is acknowledged."""
        self.flush_hooks.append(hook)

    def on_blocked_bot(self, hook: Callable[[int, bool], Any]) -> None:
        """Call `hook(user_id, blocked)` (in a handler thread) when the sender finds a user blocked the bot
        (403 / chat not found: True) or the user writes again (False); e.g. to mirror it into a users table."""
        self.blocked_bot_hooks.append(hook)

    def blocked_bot(self, user_id: int, blocked: bool) -> None:
        """Run the on_blocked_bot hooks (the sender calls this)."""
        for hook in self.blocked_bot_hooks:
            hook(user_id, blocked)

    def flush(self) -> None:
        """Make every buffered write durable; raises if one cannot be (the update is retried)."""
        for hook in self.flush_hooks:
            hook()

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["provided"][name]
        except KeyError:
            raise AttributeError(f"no service named {name!r} was provided") from None


class Context:
    """One update being handled: raw dict, parsed update (on first read), conversation state, queued replies.
    What middlewares hand to handlers goes in `ctx.data`, not in attributes set on the context."""

    def __init__(self, raw: dict[str, Any], update: telegram.Update | None = None, services: Services | None = None,
                 states: StateStore | None = None, bot_username: str = "") -> None:
        if not isinstance(raw, dict):
            raise ValueError("not a Telegram update")
        self.raw = raw
        self._update = update
        self.services = services or Services()
        self.states: StateStore = states if states is not None else MemoryStates()
        self.bot_username = bot_username.lower()
        self.outbox: list[tuple[str, dict[str, Any]]] = []
        self.route = ""                                # the matched registration's label (set by the router; metrics)
        self.data: dict[str, Any] = {}                 # set by middlewares, read by handlers
        self.matched = False                           # a registration matched (set by the router)
        self.flags: dict[str, Any] = {}                # the matched registration's flags (for middlewares)
        self._stored: Conversation | None = None       # as read from the store, once
        self._staged: Conversation | None = None       # this handler's writes, applied at completion

    # --- what the update is about ---
    @property
    def update(self) -> telegram.Update:
        """The parsed update, built on first read; raises Unparseable (the update is dead-lettered at once)."""
        if self._update is None:
            self._update = raw_update.parse(self.raw)
        return self._update

    @property
    def update_id(self) -> int:
        found = self.raw.get("update_id")
        return found if raw_update.is_integer(found) else self.update.update_id

    @property
    def chat_id(self) -> int | None:
        found = raw_update.chat_id(self.raw)
        return found if found is not None else event_user(self.raw)     # a bot event: the user's private chat

    @property
    def user_id(self) -> int | None:
        found = raw_update.user_id(self.raw)
        return found if found is not None else event_user(self.raw)

    @property
    def effective_user(self) -> telegram.User | None:
        """`update.effective_user`, built from the user's own dict (microseconds, not the whole update's
        parse); None for kinds without a user and for bot events. Raises Unparseable if it is malformed."""
        if self._update is not None:
            return self._update.effective_user
        found = raw_update.effective_user(self.raw)
        return None if found is None else raw_update.build(telegram.User, found)

    @property
    def effective_chat(self) -> telegram.Chat | None:
        """`update.effective_chat`, built from the chat's own dict (see `effective_user`)."""
        if self._update is not None:
            return self._update.effective_chat
        found = raw_update.effective_chat(self.raw)
        return None if found is None else raw_update.build(telegram.Chat, found)

    @property
    def message_id(self) -> int | None:
        """The id of `update.effective_message` (a button's message for a callback query)."""
        message = raw_update.effective_message(self.raw)
        found = message.get("message_id") if message is not None else None
        return found if raw_update.is_integer(found) else None

    @property
    def edited(self) -> bool:
        """The update is an edit of a message (`update.edited_message`)."""
        return raw_update.holds(self.raw, "edited_message")

    @property
    def text(self) -> str | None:
        return raw_update.string(raw_update.message_of(self.raw), "text")

    @property
    def command(self) -> str | None:
        """'start' for '/start arg' or '/start@thisbot'; None when the text is not a command for us."""
        text = self.text
        if not text or not text.startswith("/") or len(text) < 2:
            return None
        name, _, target = text.split(maxsplit=1)[0][1:].partition("@")
        if target and self.bot_username and target.lower() != self.bot_username:
            return None
        return name.lower()

    @property
    def args(self) -> list[str]:
        """Words after the command."""
        return (self.text or "").split()[1:] if self.command is not None else []

    @property
    def callback_data(self) -> str | None:
        return raw_update.string(raw_update.callback_query(self.raw), "data")

    # --- conversation state (staged; stored when the update completes) ---
    @property
    def conversation(self) -> Conversation:
        """The conversation as this handler sees it: stored, plus its own staged writes."""
        if self._staged is not None:
            return self._staged
        if self._stored is None:
            self._stored = self.states.get(self.chat_id, self.user_id)
        return self._stored

    @property
    def state(self) -> str | None:
        return self.conversation.state

    @property
    def state_data(self) -> dict[str, Any]:
        """A copy of the data kept with the conversation; change it with `set_state_data`."""
        return dict(self.conversation.data)

    def set_state(self, state: str) -> None:
        self._stage(state, self.conversation.data)

    def clear_state(self) -> None:
        """Leave the conversation step; its data stays until `set_state_data` / `reset_state`."""
        self._stage(None, self.conversation.data)

    def set_state_data(self, data: dict[str, Any]) -> None:
        self._stage(self.conversation.state, data)

    def update_state_data(self, **values: Any) -> None:
        self._stage(self.conversation.state, {**self.conversation.data, **values})

    def reset_state(self) -> None:
        """Forget the step and the data."""
        self._stage(None, {})

    def _stage(self, state: str | None, data: dict[str, Any]) -> None:
        self._staged = Conversation(state, dict(data))

    @property
    def state_changed(self) -> bool:
        """The handler staged a conversation write (`commit_state` has something to store)."""
        return self._staged is not None

    def commit_state(self) -> bool:
        """Store the staged conversation (the worker calls this when the update completes)."""
        if self._staged is None:
            return False
        self.states.put(self.chat_id, self.user_id, self._staged)
        self._stored, self._staged = self._staged, None
        return True

    # --- queued Bot API calls, sent after the handler returns ---
    def call(self, method: str, **params: Any) -> None:
        """Queue any Bot API method call."""
        self.outbox.append((method, {k: v for k, v in params.items() if v is not None}))

    def send(self, chat_id: int | str, text: str, **params: Any) -> None:
        """Queue sendMessage to any chat."""
        self.call("sendMessage", chat_id=chat_id, text=text, **params)

    def reply(self, text: str, **params: Any) -> None:
        """Queue sendMessage to the chat this update came from."""
        if self.chat_id is None:
            raise ValueError("ctx.reply() needs an update from a chat")
        self.send(self.chat_id, text, **params)

    def edit(self, text: str, **params: Any) -> None:
        """Queue editMessageText of the message a callback button belongs to."""
        query = raw_update.callback_query(self.raw)
        inline = raw_update.string(query, "inline_message_id")
        message = raw_update.object_at(query, "message")
        chat_id = raw_update.id_of(raw_update.object_at(message, "chat"))
        message_id = message.get("message_id") if message is not None else None
        if inline:
            self.call("editMessageText", inline_message_id=inline, text=text, **params)
        elif chat_id is not None and raw_update.is_integer(message_id):
            self.call("editMessageText", chat_id=chat_id, message_id=message_id, text=text, **params)
        else:
            raise ValueError("ctx.edit() needs a callback query on a message")

    @property
    def callback_query_id(self) -> str | None:
        return raw_update.string(raw_update.callback_query(self.raw), "id")

    def answer(self, text: str | None = None, show_alert: bool = False, **params: Any) -> None:
        """Queue answerCallbackQuery for this update's callback query."""
        query_id = self.callback_query_id
        if query_id is None:
            raise ValueError("ctx.answer() needs a callback query")
        self.call("answerCallbackQuery", callback_query_id=query_id, text=text,
                  show_alert=show_alert or None, **params)
