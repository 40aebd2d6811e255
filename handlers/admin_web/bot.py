"""The bot side of the admin web: /login (a one-time link to the panel), /logout_all (ends every
session of the sender), and the `admin_web.notice` bot event that delivers what an admin sent a user
from the panel (DM, ticket reply, ban notice, review outcome).

/login and /logout_all are for anyone with an admin web role (handlers.admin_web.roles: granted
viewers and moderators too, not only ADMIN_USER_IDS); anyone else gets the usual admin refusal. The
link goes only to the private chat (the gate drops other chats), without a link preview: a preview
fetch would spend the one-time token. A notice is an event on the user's lane, so it is sent once,
through the outbox, in order with the user's own updates; it is ungated (a ban notice reaches a
banned user).
"""
from __future__ import annotations

from loguru import logger

from botrunner.bot.context import Context
from botrunner.bot.events import event, event_data
from botrunner.bot.router import Router
from botrunner.redis_keys import Keys
from handlers import refusals
from handlers.admin_web.api import NOTICE
from handlers.admin_web.auth import LoginTokens
from handlers.admin_web.roles import role_of
from handlers.admin_web.sessions import Sessions
from handlers.flags import OPEN, UNGATED
from handlers.runtime import Runtime, runtime
from handlers.ui import tell

MAX_TEXT = 4096
router = Router("admin_web")


def _prefix(rt: Runtime) -> str:
    return Keys.for_token(rt.settings.bot_token).prefix


def _role_or_refuse(ctx: Context) -> str | None:
    rt = runtime(ctx)
    role = role_of(rt.settings, rt.store.admin_roles, ctx.user_id) if ctx.user_id is not None else None
    if role is None:
        logger.info("User {} tried an admin action: {!r}", ctx.user_id, (ctx.text or "")[:80])
        refusals.note(rt, "admin_only", ctx.user_id, ctx.route)
        tell(ctx, rt.t(ctx, "not_admin"))
    return role


def login(ctx: Context) -> None:
    """/login: a link to ADMIN_PUBLIC_URL/admin/login?token=..., valid ADMIN_LOGIN_TTL_S, once."""
    rt = runtime(ctx)
    role = _role_or_refuse(ctx)
    if role is None or ctx.user_id is None:
        return
    s = rt.settings
    if not s.admin_web_on:
        ctx.reply(rt.t(ctx, "admin_web_off"))
        return
    token = LoginTokens(rt.redis, _prefix(rt), s.admin_login_ttl_s).issue(ctx.user_id)
    logger.info("Admin web: login link issued to {} ({})", ctx.user_id, role)
    ctx.reply(rt.t(ctx, "admin_web_link", url=f"{s.admin_public_url}/admin/login?token={token}",
                   minutes=max(1, s.admin_login_ttl_s // 60), role=role),
              link_preview_options={"is_disabled": True})


def logout_all(ctx: Context) -> None:
    """/logout_all: end every admin web session of the sender (on every device)."""
    rt = runtime(ctx)
    if _role_or_refuse(ctx) is None or ctx.user_id is None:
        return
    ended = Sessions(rt.redis, _prefix(rt), rt.settings.admin_session_ttl_s).end_all(ctx.user_id)
    logger.info("Admin web: {} ended {} session(s)", ctx.user_id, ended)
    ctx.reply(rt.t(ctx, "admin_web_logged_out", count=ended))


def notice(ctx: Context) -> None:
    """An admin's text for this user, stored by the admin web as a bot event."""
    text = str(event_data(ctx).get("text") or "")[:MAX_TEXT]
    if ctx.user_id is not None and text:
        ctx.send(ctx.user_id, text)


router.command("login", flags=OPEN)(login)
router.command("logout_all", flags=OPEN)(logout_all)
router.update(event(NOTICE), flags=UNGATED)(notice)
