"""The airdrop bot's router (BOT_HANDLERS=handlers.app:router): every feature module registered with
the gate, and the worker start-up hook that opens storage, seeds default tasks and builds the Runtime."""
from __future__ import annotations

import redis
from loguru import logger

from botrunner.bot.context import Context
from botrunner.bot.router import Router
from botrunner.redis_keys import Keys
from handlers import (
    admin,
    captcha,
    menu,
    moderation,
    points,
    referrals,
    start,
    support,
    tasks,
    transfers,
    wallet,
    withdraw,
)
from handlers.bot_api import BotApi
from handlers.callbacks import Signer
from handlers.gate import guard
from handlers.runtime import Runtime
from handlers.task_catalog import default_tasks
from handlers.texts import Texts

router = Router()

# order is irrelevant for routing (the router matches exactly / by longest prefix)
for module in (start, captcha, menu, referrals, points, tasks, wallet, withdraw, transfers, support,
               moderation, admin):
    module.register(router, guard)


@router.default()
def fallback(ctx: Context) -> None:
    """Updates nothing matched: membership changes, commands we do not know, stale buttons."""
    if ctx.update.my_chat_member is not None:
        moderation.membership(ctx)
    elif ctx.callback_data is not None:
        ctx.answer(ctx.services.bot.t(ctx, "button_invalid"), show_alert=True)
    elif ctx.command is not None and ctx.user_id is not None:
        guard(_unknown_command)(ctx)


def _unknown_command(ctx: Context) -> None:
    ctx.reply(ctx.services.bot.t(ctx, "unknown_command"))


@router.on_worker_start
def open_bot(services) -> None:
    """Storage (repositories, cache, sessions, batcher), default tasks, texts, Bot API reads, captcha."""
    from storage.factory import install, redis_client
    settings = services.settings
    storage = install(services, settings)
    # the sender's 403 / "chat not found" flag, mirrored into the users table (kept apart from bans)
    services.on_blocked_bot(storage.store.users.set_blocked_bot)
    added = storage.store.tasks.seed(default_tasks(settings))
    if added:
        logger.info("Seeded {} default task(s)", added)
    services.provide("bot", build_runtime(settings, storage, redis_client(settings, settings.redis_session_db)))


def build_runtime(settings, storage, client: redis.Redis) -> Runtime:
    rt = Runtime(settings=settings, store=storage.store, users=storage.cache, sessions=storage.sessions,
                 redis=client, texts=Texts(settings.texts_dir),
                 api=BotApi(settings.telegram_api_url, settings.bot_token, settings.bot_api_timeout_s),
                 batcher=storage.batcher, prefix=Keys.for_token(settings.bot_token).prefix + "bot:")
    rt.signer = Signer(settings.bot_token or "local")
    rt.captcha = captcha.ImageCaptcha(settings.captcha_length, settings.captcha_max_attempts,
                                      settings.captcha_session_timeout / 1000)
    return rt
