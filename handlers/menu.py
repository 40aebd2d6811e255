"""The dashboard: balance, referrals, tasks done, wallet, progress to the minimum withdrawal, token
estimate and referral link, with the inline keyboard that leads everywhere else."""
from __future__ import annotations

from typing import Any

from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import points
from handlers.runtime import runtime
from handlers.ui import button, keyboard, link, respond

BLOCKS = 10
router = Router("menu")


def progress_bar(points: int, minimum: int) -> str:
    filled = min(BLOCKS, points * BLOCKS // max(minimum, 1))
    return "▰" * filled + "▱" * (BLOCKS - filled)


def tokens(points: int, rate: float) -> str:
    return f"{points * rate:,.4f}".rstrip("0").rstrip(".")


def menu_keyboard(ctx: Context) -> dict[str, Any]:
    rt = runtime(ctx)
    b = lambda key, data: button(ctx, rt.t(ctx, key), data)
    return keyboard([b("btn_tasks", "m:tasks"), b("btn_points", "m:points")],
                    [b("btn_referrals", "m:refs"), b("btn_leaderboard", "m:lb")],
                    [b("btn_wallet", "m:wallet"), b("btn_withdraw", "m:wd")],
                    [b("btn_transfer", "m:tr"), b("btn_support", "m:sup")],
                    [b("btn_language", "m:lang"), b("btn_refresh", "m:menu")])


def show_menu(ctx: Context) -> None:
    """The dashboard, read straight from the database (balances must not lag)."""
    rt = runtime(ctx)
    user = rt.store.users.get(ctx.user_id)
    if user is None:
        ctx.reply(rt.t(ctx, "start_first"))
        return
    s = rt.settings
    minimum = int(rt.switch("min_withdraw_points"))
    done = sum(1 for sub in rt.store.submissions.list_for_user(user.id) if sub.status == "approved")
    text = rt.t(ctx, "menu", name=user.first_name or user.username or user.id, points=user.points,
                referrals=user.referral_count, tasks=done,
                wallet=_short(user.wallet_address) if user.wallet_address else rt.t(ctx, "wallet_none"),
                bar=progress_bar(user.points, minimum), minimum=minimum,
                percent=min(100, user.points * 100 // max(minimum, 1)),
                tokens=tokens(user.points, s.points_to_token_conversion_rate), symbol=s.token_symbol,
                link=link(ctx, user))
    respond(ctx, text, menu_keyboard(ctx))


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def profile(ctx: Context) -> None:
    rt = runtime(ctx)
    user = rt.store.users.get(ctx.user_id)
    respond(ctx, rt.t(ctx, "profile", id=user.id, username=user.username or "-", points=user.points,
                      earned=user.total_earned, referrals=user.referral_count, rank=points.shown_rank(ctx),
                      wallet=user.wallet_address or rt.t(ctx, "wallet_none")),
            keyboard([button(ctx, rt.t(ctx, "btn_back"), "m:menu")]))


router.command("menu")(show_menu)
router.callback("m:menu")(show_menu)
router.command("profile")(profile)
