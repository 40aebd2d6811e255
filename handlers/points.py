"""Points: balance and breakdown, the paginated ledger, stats; leaderboards by points earned and by
referrals with the user's own rank, cached in Redis for LEADERBOARD_CACHE_S."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import names
from handlers.runtime import runtime
from handlers.ui import button, keyboard, respond

router = Router("points")

PAGE = 5
RANK_CAP = 100
BOARDS = {"pts": ("top_by_total_earned", "rank_by_total_earned", "total_earned"),
          "ref": ("top_by_referrals", "rank_by_referrals", "referral_count")}


@dataclass
class HistoryPage(CallbackData, prefix="pts:h"):
    page: int = 0


@dataclass
class Board(CallbackData, prefix="lb"):
    board: str = "pts"


def show_points(ctx: Context) -> None:
    """Balance, rank, total earned, daily average, and where the points came from."""
    rt = runtime(ctx)
    user = rt.store.users.get(ctx.user_id)
    days = max(1.0, (time.time() - (user.registered_at or time.time())) / 86400)
    breakdown = rt.store.points.earned_by_kind(user.id)
    lines = "\n".join(f"  {kind}: {amount:+}" for kind, amount in sorted(breakdown.items())) or "  -"
    text = rt.t(ctx, "points", points=user.points, earned=user.total_earned, rank=shown_rank(ctx, "pts"),
                daily=f"{user.total_earned / days:.1f}", breakdown=lines)
    respond(ctx, text, keyboard([button(ctx, rt.t(ctx, "btn_history"), HistoryPage(0)),
                                 button(ctx, rt.t(ctx, "btn_leaderboard"), "m:lb")],
                                [button(ctx, rt.t(ctx, "btn_back"), "m:menu")]))


def history(ctx: Context) -> None:
    """The ledger, newest first, PAGE rows per page with Prev/Next buttons."""
    rt = runtime(ctx)
    asked = HistoryPage.of(ctx) if ctx.callback_data else None
    page = asked.page if asked is not None and 0 <= asked.page < 10**6 else 0
    total = rt.store.points.history_count(ctx.user_id)
    pages = max(1, -(-total // PAGE))
    page = min(page, pages - 1)
    rows = rt.store.points.history(ctx.user_id, PAGE, page * PAGE)
    body = "\n".join(f"{time.strftime('%m-%d %H:%M', time.gmtime(e.created_at))}  {e.amount:+}  {e.kind}  "
                     f"= {e.balance_after}" for e in rows) or rt.t(ctx, "history_empty")
    nav = []
    if page > 0:
        nav.append(button(ctx, "◀", HistoryPage(page - 1)))
    if page + 1 < pages:
        nav.append(button(ctx, "▶", HistoryPage(page + 1)))
    respond(ctx, rt.t(ctx, "history", page=page + 1, pages=pages, body=body),
            keyboard(nav, [button(ctx, rt.t(ctx, "btn_back"), "m:points")]))


def stats(ctx: Context) -> None:
    rt = runtime(ctx)
    user = rt.store.users.get(ctx.user_id)
    done = [s for s in rt.store.submissions.list_for_user(user.id) if s.status == "approved"]
    ctx.reply(rt.t(ctx, "stats", points=user.points, earned=user.total_earned, tasks=len(done),
                   referrals=user.referral_count, rank=shown_rank(ctx, "pts"),
                   ref_rank=shown_rank(ctx, "ref"), transfers=len(rt.store.points.transfers_for(user.id, 100))))


def leaderboard(ctx: Context) -> None:
    """Top 10 by total earned (or by referrals with lb:ref) and the user's own rank."""
    rt = runtime(ctx)
    asked = Board.of(ctx) if ctx.callback_data else None
    board = asked.board if asked is not None and asked.board in BOARDS else "pts"
    if ctx.command == "top" and ctx.args and ctx.args[0].lower().startswith("ref"):
        board = "ref"
    top = _top(ctx, board)
    lines = "\n".join(f"{i}. {name} — {value}" for i, (name, value) in enumerate(top, 1)) or "-"
    other = "ref" if board == "pts" else "pts"
    respond(ctx, rt.t(ctx, f"leaderboard_{board}", lines=lines, rank=shown_rank(ctx, board)),
            keyboard([button(ctx, rt.t(ctx, f"btn_board_{other}"), Board(other))],
                     [button(ctx, rt.t(ctx, "btn_back"), "m:menu")]))


def _top(ctx: Context, board: str) -> list[tuple[str, int]]:
    rt = runtime(ctx)
    key = rt.key("lb", board)
    cached = rt.redis.get(key) if rt.settings.leaderboard_cache_s else None
    if cached:
        return [tuple(row) for row in json.loads(cached)]
    top_method, _, field = BOARDS[board]
    top = [(names.public(u), getattr(u, field)) for u in getattr(rt.store.users, top_method)(10)]
    if rt.settings.leaderboard_cache_s:
        rt.redis.set(key, json.dumps(top), ex=rt.settings.leaderboard_cache_s)
    return top


def shown_rank(ctx: Context, board: str = "pts") -> str:
    """The user's rank as shown: "#7", "#100+" past RANK_CAP (counting stops there: no full scan of
    millions of users per /profile), "-" for nobody; cached LEADERBOARD_CACHE_S."""
    rt = runtime(ctx)
    key = rt.key("rank", board, ctx.user_id)
    cached = rt.redis.get(key) if rt.settings.leaderboard_cache_s else None
    if cached:
        rank = int(cached) or None
    else:
        rank = getattr(rt.store.users, BOARDS[board][1])(ctx.user_id, max_rank=RANK_CAP)
        if rt.settings.leaderboard_cache_s:
            rt.redis.set(key, rank or 0, ex=rt.settings.leaderboard_cache_s)
    if rank is None:
        return "-"
    return f"#{RANK_CAP}+" if rank > RANK_CAP else f"#{rank}"


router.command("points", "balance")(show_points)
router.callback("m:points")(show_points)
router.command("history")(history)
router.callback(HistoryPage)(history)
router.command("stats")(stats)
router.command("leaderboard", "top")(leaderboard)
router.callback("m:lb")(leaderboard)
router.callback(Board)(leaderboard)
