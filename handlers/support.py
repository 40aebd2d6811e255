"""Support tickets: a category, then the text; at most one per user and category per 24 h.
Admins list open tickets and answer with /reply, which the bot delivers to the user."""
from __future__ import annotations

from dataclasses import dataclass

from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers.flags import ADMIN, SENSITIVE
from handlers.gate import clean_text
from handlers.runtime import runtime
from handlers.ui import button, keyboard, respond

CATEGORIES = ("technical", "ban", "business")
STATE = "support"
DAY_S = 86400
MAX_MESSAGE = 4096          # Telegram's limit for one message
router = Router("support")


@dataclass
class Category(CallbackData, prefix="sup"):
    category: str = ""


def start(ctx: Context) -> None:
    rt = runtime(ctx)
    rows = [[button(ctx, rt.t(ctx, f"support_cat_{c}"), Category(c))] for c in CATEGORIES]
    rows.append([button(ctx, rt.t(ctx, "btn_back"), "m:menu")])
    respond(ctx, rt.t(ctx, "support"), keyboard(*rows))


def pick(ctx: Context) -> None:
    rt = runtime(ctx)
    picked = Category.of(ctx)
    category = picked.category if picked else ""
    if category not in CATEGORIES:
        ctx.answer(rt.t(ctx, "button_invalid"), show_alert=True)
        return
    session = ctx.state_data
    session["ticket_category"] = category
    ctx.set_state_data(session)
    ctx.set_state(STATE)
    ctx.reply(rt.t(ctx, "support_ask", category=rt.t(ctx, f"support_cat_{category}")))


def on_text(ctx: Context) -> None:
    rt = runtime(ctx)
    ctx.clear_state()
    session = ctx.state_data
    category = session.pop("ticket_category", None)
    ctx.set_state_data(session)
    text = clean_text(ctx, 2000)
    if category not in CATEGORIES or not text:
        ctx.reply(rt.t(ctx, "support_empty"))
        return
    ticket = rt.store.tickets.open(ctx.user_id, category, text, DAY_S)
    if ticket is None:
        ctx.reply(rt.t(ctx, "support_limit"))
        return
    ctx.reply(rt.t(ctx, "support_opened", id=ticket.id))
    for admin_id in rt.settings.admin_user_ids:
        ctx.send(admin_id, rt.texts.get("en", "support_admin_new", id=ticket.id, user=ctx.user_id,
                                        category=category, text=text[:3000]))


def list_open(ctx: Context) -> None:
    """The oldest open tickets that fit one message (Telegram's 4096 characters), and how many more."""
    rt = runtime(ctx)
    tickets = rt.store.tickets.list_open(20)
    entries = [f"#{t.id} [{t.category}] from {t.user_id}: {clean_text_of(t.text, 200)}" for t in tickets]
    budget = MAX_MESSAGE - len(rt.t(ctx, "tickets", lines="")) - 40
    shown: list[str] = []
    for entry in entries:
        if sum(len(e) + 2 for e in shown) + len(entry) > budget:
            break
        shown.append(entry)
    more = rt.store.tickets.count_open() - len(shown)
    lines = "\n\n".join(shown) + (f"\n\n… +{more}" if more > 0 else "")
    ctx.reply(rt.t(ctx, "tickets", lines=lines or "-"))


def clean_text_of(text: str, limit: int) -> str:
    """Ticket text for a listing: one line, cut to `limit` characters."""
    return " ".join(text.split())[:limit]


def reply(ctx: Context) -> None:
    """/reply <ticket id> <text>"""
    rt = runtime(ctx)
    if len(ctx.args) < 2:
        ctx.reply(rt.t(ctx, "usage", usage="/reply <ticket id> <text>"))
        return
    ticket = rt.store.tickets.get(ctx.args[0][:32])
    answer = (ctx.text or "").split(maxsplit=2)[2][:3000]
    if ticket is None or not rt.store.tickets.reply(ticket.id, ctx.user_id, answer):
        ctx.reply(rt.t(ctx, "ticket_unknown"))
        return
    user = rt.store.users.get(ticket.user_id)
    lang = rt.texts.pick(user.language_code if user else "")
    ctx.send(ticket.user_id, rt.texts.get(lang, "support_reply", id=ticket.id, text=answer))
    ctx.reply(rt.t(ctx, "ticket_replied", id=ticket.id))


router.command("support")(start)
router.callback("m:sup")(start)
router.callback(Category)(pick)
router.state(STATE, flags=SENSITIVE)(on_text)
router.command("tickets", flags=ADMIN)(list_open)
router.command("reply", flags=ADMIN)(reply)
