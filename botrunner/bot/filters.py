"""Filters on registrations: a filter is a function `Context -> bool`; a registration matches only when
all of its filters do. The ones bots need most are here; any plain function works the same way.

`content_type(ctx)` names what an update carries: for messages the kind of content ("text", "photo",
"document", ...), otherwise the update's own kind ("callback_query", "my_chat_member", ...).
"""
from __future__ import annotations

from collections.abc import Callable

from botrunner.bot import raw_update
from botrunner.bot.context import Context

Filter = Callable[[Context], bool]

MESSAGE_CONTENT = ("text", "photo", "document", "video", "animation", "audio", "voice", "video_note", "sticker",
                   "contact", "location", "venue", "poll", "dice")
UPDATE_KINDS = ("callback_query", "my_chat_member", "chat_member", "chat_join_request", "inline_query",
                "chosen_inline_result", "pre_checkout_query", "shipping_query", "poll_answer", "channel_post",
                "edited_channel_post", "message_reaction")


def content_type(ctx: Context) -> str | None:
    """The content of this update's message, else the kind of update; None for anything unknown.
    Read from the raw update (no parse)."""
    message = raw_update.message_of(ctx.raw)
    if message is not None:
        for kind in MESSAGE_CONTENT:
            if message.get(kind):
                return kind
        return None
    for kind in UPDATE_KINDS:
        if raw_update.holds(ctx.raw, kind):
            return kind
    return None


def content(*kinds: str) -> Filter:
    """Matches updates whose `content_type` is one of `kinds` ("text", "photo", "my_chat_member", ...)."""
    unknown = set(kinds) - set(MESSAGE_CONTENT) - set(UPDATE_KINDS)
    if unknown:
        raise ValueError(f"unknown content type(s) {sorted(unknown)}; known: {MESSAGE_CONTENT + UPDATE_KINDS}")
    wanted = frozenset(kinds)

    def matches(ctx: Context) -> bool:
        return content_type(ctx) in wanted
    matches.__name__ = f"content{tuple(kinds)}"
    return matches


def chat_type(*types: str) -> Filter:
    """Matches updates from chats of these types ("private", "group", "supergroup", "channel")."""
    wanted = frozenset(types)

    def matches(ctx: Context) -> bool:
        return raw_update.string(raw_update.effective_chat(ctx.raw), "type") in wanted
    matches.__name__ = f"chat_type{tuple(types)}"
    return matches


def is_command(ctx: Context) -> bool:
    """A /command addressed to this bot (any command, known or not)."""
    return ctx.command is not None
