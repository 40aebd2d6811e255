"""Broadcasts from the bot, for admins: /broadcast composes a draft (from the replied-to message or
the command's text, with segment options), shows it and its recipient count, and waits for the
Start button; /bpause, /bresume, /bcancel and /bprogress control and watch it. The sending itself
is handlers.broadcast_engine's, in whichever worker owns the broadcast.

    /broadcast [verified] [premium] [wallet] [referrals] [points=MIN-MAX] [active=DAYS] [lang=xx]
               [ids=1,2,3] [html|markdown] <text>
    (lines "button: Label | https://url" at the end of the text become URL buttons)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from loguru import logger

from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers.flags import ADMIN
from handlers.runtime import runtime
from handlers.ui import button, keyboard, respond
from storage.broadcast_records import Broadcast, Message, Segment

router = Router("broadcast")
MAX_TEXT = 4096
FLAGS = {"verified": "verified", "premium": "premium", "wallet": "with_wallet", "referrals": "with_referrals"}
PARSE = {"html": "HTML", "markdown": "MarkdownV2"}
WORD = re.compile(r"\s*(\S+)(.*)", re.S)
ACTIONS = {"start": "running", "pause": "paused", "resume": "running", "cancel": "cancelled"}


@dataclass
class Control(CallbackData, prefix="bc"):
    """`bc:<action>:<broadcast id>`: start, pause, resume, cancel or progress."""
    action: str = ""
    broadcast_id: str = ""


def parse_options(rest: str) -> tuple[dict[str, Any], str, str]:
    """(segment fields, parse mode, the remaining text) from the option words leading `rest`."""
    fields: dict[str, Any] = {}
    parse_mode = ""
    while rest:
        match = WORD.match(rest)
        if match is None:
            break
        head, tail = match.groups()
        word, _, value = head.partition("=")
        word = word.lower()
        if word in FLAGS and not value:
            fields[FLAGS[word]] = True
        elif word in PARSE and not value:
            parse_mode = PARSE[word]
        elif word == "points" and value:
            low, _, high = value.partition("-")
            fields["points_min"] = int(low) if low else None
            fields["points_max"] = int(high) if high else None
        elif word == "active" and value:
            fields["active_days"] = int(value)
        elif word == "lang" and value:
            fields["language"] = value[:8].lower()
        elif word == "ids" and value:
            fields["ids"] = tuple(int(i) for i in value.split(",") if i)
        else:
            break
        rest = tail
    return fields, parse_mode, rest


def split_buttons(text: str) -> tuple[str, list[list[dict[str, str]]]]:
    """The text without its trailing "button: Label | url" lines, and those buttons (one per row)."""
    lines = text.split("\n")
    rows: list[list[dict[str, str]]] = []
    while lines and lines[-1].lower().startswith("button:"):
        label, _, url = lines.pop()[len("button:"):].partition("|")
        rows.insert(0, [{"text": label.strip(), "url": url.strip()}])
    return "\n".join(lines).strip(), rows


def compose(ctx: Context) -> tuple[Message, Segment]:
    """The draft's message and segment; ValueError (told to the admin) for bad options. A replied-to
    message is taken with its formatting (as HTML) and its photo."""
    message = ctx.update.effective_message
    raw = (message.text or "") if message else ""
    rest = raw.split(maxsplit=1)[1] if len(raw.split(maxsplit=1)) > 1 else ""
    fields, parse_mode, rest = parse_options(rest)
    text, buttons = split_buttons(rest)
    replied = message.reply_to_message if message else None
    photo = ""
    if replied is not None and replied.photo:
        photo = replied.photo[-1].file_id
        text, parse_mode = (replied.caption_html, "HTML") if replied.caption else ("", "")
    elif replied is not None and replied.text:
        text, parse_mode = replied.text_html, "HTML"
    return Message(text=text[:MAX_TEXT], parse_mode=parse_mode, photo=photo, buttons=buttons), Segment(**fields)


def broadcast(ctx: Context) -> None:
    rt = runtime(ctx)
    try:
        message, segment = compose(ctx)
    except (ValueError, TypeError) as exc:
        ctx.reply(rt.t(ctx, "broadcast_bad", error=str(exc)[:300]))
        return
    draft = rt.store.broadcasts.create(message, segment, created_by=ctx.user_id or 0)
    logger.info("Admin {} drafted broadcast {} for {} recipient(s)", ctx.user_id, draft.id, draft.total)
    assert ctx.chat_id is not None
    method, params = message.call(ctx.chat_id)
    ctx.call(method, **params)                      # the message as recipients will see it
    ctx.reply(rt.t(ctx, "broadcast_preview", id=draft.id, count=draft.total, segment=segment.to_json()),
              reply_markup=keyboard([button(ctx, rt.t(ctx, "broadcast_start_button"), Control("start", draft.id)),
                                     button(ctx, rt.t(ctx, "broadcast_cancel_button"), Control("cancel", draft.id))]))


def progress_text(ctx: Context, b: Broadcast) -> str:
    rt = runtime(ctx)
    done = 100 * b.processed // b.total if b.total else 100
    return rt.t(ctx, "broadcast_progress", id=b.id, status=b.status, percent=min(done, 100), total=b.total,
                sent=b.sent, blocked=b.blocked, failed=b.failed, skipped=b.skipped, retrying=b.retrying)


def progress_markup(ctx: Context, b: Broadcast) -> dict[str, Any]:
    rt = runtime(ctx)
    actions = {"running": ["pause", "cancel"], "paused": ["resume", "cancel"]}.get(b.status, [])
    return keyboard([button(ctx, rt.t(ctx, "broadcast_progress_button"), Control("progress", b.id))],
                    [button(ctx, rt.t(ctx, f"broadcast_{a}_button"), Control(a, b.id)) for a in actions])


def act(ctx: Context, action: str, broadcast_id: str) -> None:
    """Apply a control action (or show progress) and answer with the broadcast's progress."""
    rt = runtime(ctx)
    repo = rt.store.broadcasts
    current = repo.get(broadcast_id[:32])
    if current is None:
        respond(ctx, rt.t(ctx, "broadcast_unknown"))
        return
    if action in ACTIONS:
        changed = repo.set_status(current.id, ACTIONS[action])
        if changed is None:
            respond(ctx, rt.t(ctx, "broadcast_not_allowed", id=current.id, status=current.status, action=action))
            return
        logger.info("Admin {} set broadcast {} to {}", ctx.user_id, current.id, changed.status)
        current = changed
    respond(ctx, progress_text(ctx, current), progress_markup(ctx, current))


def command(ctx: Context) -> None:
    """/bpause, /bresume, /bcancel <id>; /bprogress [id] (without an id: the recent history)."""
    rt = runtime(ctx)
    action = {"bpause": "pause", "bresume": "resume", "bcancel": "cancel"}.get(ctx.command or "", "progress")
    if ctx.args:
        act(ctx, action, ctx.args[0])
    elif action == "progress":
        lines = "\n".join(f"{b.id} {b.status} {b.processed}/{b.total}" for b in rt.store.broadcasts.history(10))
        ctx.reply(rt.t(ctx, "broadcast_history", lines=lines or "-"))
    else:
        ctx.reply(rt.t(ctx, "usage", usage=f"/{ctx.command} <broadcast id>"))


def control_button(ctx: Context) -> None:
    data = Control.of(ctx)
    if data is None:
        return
    ctx.answer()
    act(ctx, data.action, data.broadcast_id)


CONTROLS = ("bpause", "bresume", "bcancel", "bprogress")
COMMANDS = ("broadcast", *CONTROLS)
router.command("broadcast", flags=ADMIN)(broadcast)
router.command(*CONTROLS, flags=ADMIN)(command)
router.callback(Control, flags=ADMIN)(control_button)
