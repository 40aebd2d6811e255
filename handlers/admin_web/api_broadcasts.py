"""Broadcasts in the admin web: GET /admin/api/broadcasts [viewer] (the history, newest first, keyset
pages); POST /admin/api/broadcasts [admin] {"text", "parse_mode"?, "segment", "buttons"?} writes a draft
whose "total" is the segment's recipient count now; POST /admin/api/broadcasts/preview [admin]
{"segment"} -> {"count"}; GET /admin/api/broadcasts/{id} [viewer] (status and counters: the panel's
progress bar polls it); POST /admin/api/broadcasts/{id}/start|pause|resume|cancel [admin].

Invariant: a control is applied only from the status it names (start: draft, pause: running, resume:
paused, cancel: any but done/cancelled), conditionally in storage, else 409; every change writes one
audit row. The sending is handlers.broadcast_engine's, in whichever worker owns the broadcast.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

from handlers.admin_web import params
from handlers.admin_web.api import AdminRequest, ApiError, invalid, route
from storage.broadcast_records import PARSE_MODES, Broadcast, Message, Segment

MAX_TEXT = 4096              # Telegram's longest message text
MAX_IDS = 10_000             # an explicit recipient list; larger audiences are segments
MAX_ROWS, MAX_PER_ROW, MAX_LABEL = 10, 8, 64
URL = re.compile(r"(https?|tg)://\S{1,2000}")
BROADCAST_ID = re.compile(r"[0-9a-f]{1,32}")
FIELDS = ("text", "parse_mode", "segment", "buttons")
FLAGS = ("verified", "premium", "with_wallet", "with_referrals")
NUMBERS = {"points_min": (0, 10**12), "points_max": (0, 10**12), "active_days": (1, 36500)}
# Telegram's HTML subset (formatting options of sendMessage)
HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                       "code", "pre", "blockquote", "tg-emoji"})
#: action -> (the status it applies to, None: any live one; the status it sets)
ACTIONS = {"start": ("draft", "running"), "pause": ("running", "paused"), "resume": ("paused", "running"),
           "cancel": (None, "cancelled")}
LIVE = ("draft", "running", "paused")


def broadcast_json(b: Broadcast) -> dict[str, Any]:
    """What the panel shows of a broadcast (the contract's fields, plus its message and segment)."""
    return {"id": b.id, "status": b.status, "total": b.total, "sent": b.sent, "blocked": b.blocked,
            "failed": b.failed, "skipped": b.skipped, "retrying": b.retrying, "processed": b.processed,
            "created_by": b.created_by, "created_at": b.created_at, "started_at": b.started_at,
            "finished_at": b.finished_at, "text": b.message.text, "parse_mode": b.message.parse_mode,
            "photo": b.message.photo, "buttons": b.message.buttons, "segment": json.loads(b.segment.to_json())}


class _TagCheck(HTMLParser):
    """Telegram's HTML: only its tags, each closed in order; `error` says what is wrong first."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.error = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.error = self.error or f"<{tag}> is not a tag Telegram's HTML knows"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.error = self.error or f"</{tag}> does not close the last open tag"
        else:
            self.open.pop()


def html_error(text: str) -> str:
    """Why `text` would be refused with parse_mode HTML ('' when it would not)."""
    check = _TagCheck()
    check.feed(text)
    check.close()
    return check.error or (f"<{check.open[-1]}> is never closed" if check.open else "")


def segment_of(body: dict[str, Any]) -> Segment:
    """The body's "segment" object, every field type-checked (400 naming "segment" otherwise)."""
    raw = body.get("segment", {})
    if not isinstance(raw, dict):
        raise invalid("segment", "an object with any of " + ", ".join((*FLAGS, *NUMBERS, "language", "ids")))
    for name in FLAGS:
        if not isinstance(raw.get(name, False), bool):
            raise invalid("segment", f"{name} is true or false")
    for name, (lo, hi) in NUMBERS.items():
        value = raw.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi):
            raise invalid("segment", f"{name} is an integer in {lo}..{hi} or null")
    language = raw.get("language", "")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{0,3}(-[a-z0-9]{1,8})?", language):
        raise invalid("segment", "language is a language code such as en or pt-br")
    ids = raw.get("ids", [])
    if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < params.MAX_ID for i in ids):
        raise invalid("segment", f"ids is a list of at most {MAX_IDS} Telegram user ids")
    try:
        return Segment.from_json(raw)
    except (ValueError, TypeError) as exc:
        raise invalid("segment", str(exc)[:200]) from None


def buttons_of(body: dict[str, Any]) -> list[list[dict[str, str]]]:
    """Rows of URL buttons: [[{"text", "url"}, ...], ...]."""
    rows = body.get("buttons", [])
    shape = (f"rows (at most {MAX_ROWS}) of buttons (at most {MAX_PER_ROW}) {{\"text\", \"url\"}}, "
             "url http(s):// or tg://")
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        raise invalid("buttons", shape)
    for row in rows:
        if not isinstance(row, list) or not 0 < len(row) <= MAX_PER_ROW:
            raise invalid("buttons", shape)
        for b in row:
            if (not isinstance(b, dict) or set(b) != {"text", "url"} or not isinstance(b["text"], str)
                    or not 0 < len(b["text"].strip()) <= MAX_LABEL or not isinstance(b["url"], str)
                    or not URL.fullmatch(b["url"])):
                raise invalid("buttons", shape)
    return rows


def message_of(body: dict[str, Any]) -> Message:
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise invalid(unknown[0], "not a broadcast field (" + ", ".join(FIELDS) + ")")
    text = params.text(body, "text", MAX_TEXT)
    parse_mode = body.get("parse_mode", "")
    if parse_mode not in PARSE_MODES:
        raise invalid("parse_mode", "one of " + ", ".join(repr(p) for p in PARSE_MODES))
    if parse_mode == "HTML" and (why := html_error(text)):
        raise invalid("text", why)
    return Message(text=text, parse_mode=parse_mode, buttons=buttons_of(body))


def _get(req: AdminRequest) -> Broadcast:
    broadcast_id = req.param("id")
    found = req.store.broadcasts.get(broadcast_id) if BROADCAST_ID.fullmatch(broadcast_id) else None
    if found is None:
        raise ApiError(404, f"no broadcast {broadcast_id[:32]}")
    return found


@route("GET", "/broadcasts", role="viewer")
async def history(req: AdminRequest) -> dict[str, Any]:
    limit, before = params.limit(req.request.query), params.time_cursor(req.request.query)
    rows = await req.call(req.store.broadcasts.history_page, before, limit + 1)
    page, next_cursor = params.time_page(rows, limit, lambda b: (b.created_at, b.id))
    return {"items": [broadcast_json(b) for b in page], "next": next_cursor}


@route("POST", "/broadcasts/preview", role="admin")
async def preview(req: AdminRequest) -> dict[str, Any]:
    body = await req.body()
    return {"count": await req.call(req.store.broadcasts.count_segment, segment_of(body))}


@route("POST", "/broadcasts", role="admin")
async def create(req: AdminRequest) -> dict[str, Any]:
    body = await req.body()
    message, segment = message_of(body), segment_of(body)

    def change() -> Broadcast:
        draft = req.store.broadcasts.create(message, segment, created_by=req.admin_id)
        req.audited("broadcast.create", f"broadcast:{draft.id}", None, broadcast_json(draft))
        return draft
    return {"broadcast": broadcast_json(await req.call(change))}


@route("GET", "/broadcasts/{id}", role="viewer")
async def one(req: AdminRequest) -> dict[str, Any]:
    return {"broadcast": broadcast_json(await req.call(_get, req))}


def _control(action: str) -> Any:
    source, target = ACTIONS[action]

    async def control(req: AdminRequest) -> dict[str, Any]:
        def change() -> Broadcast:
            current = _get(req)
            if current.status not in ((source,) if source else LIVE):
                raise ApiError(409, f"a {current.status} broadcast cannot {action}")
            changed = req.store.broadcasts.set_status(current.id, target)
            if changed is None:                     # another admin (or the engine) changed it first
                raise ApiError(409, f"broadcast {current.id} changed meanwhile; reload it")
            req.audited(f"broadcast.{action}", f"broadcast:{current.id}", {"status": current.status},
                        {"status": changed.status, "total": changed.total})
            return changed
        return {"broadcast": broadcast_json(await req.call(change))}
    control.__name__ = f"broadcast_{action}"
    return control


for _action in ACTIONS:
    route("POST", f"/broadcasts/{{id}}/{_action}", role="admin")(_control(_action))
