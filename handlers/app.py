"""The airdrop bot's root router (BOT_HANDLERS=handlers.app:router): the gate's middlewares, every
feature module's router included, the bot's web features (the admin web), the fallbacks, and the
worker hooks that open storage (seeding default tasks, building the Runtime) and close it."""
from __future__ import annotations

import redis
from loguru import logger

from botrunner.bot.callback_data import Signer
from botrunner.bot.context import Context, Services
from botrunner.bot.filters import content, is_command
from botrunner.bot.router import Router
from botrunner.processing.processor import DETERMINISTIC_ERRORS
from botrunner.redis_keys import Keys
from handlers import (
    admin,
    broadcast,
    captcha,
    gate,
    menu,
    miniapp,
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
from handlers.admin_web import bot as admin_web_bot
from handlers.admin_web import http as admin_web_http
from handlers.ban_ends import ban_ends_job
from handlers.bot_api import BotApi
from handlers.broadcast_engine import BroadcastEngine
from handlers.cluster_jobs import ClusterJobs
from handlers.export_schedule import export_job
from handlers.flags import UNGATED
from handlers.runtime import Runtime
from handlers.task_catalog import sync_default_tasks
from handlers.texts import Texts
from handlers.ui import tell

router = Router("airdrop")

for middleware in gate.MIDDLEWARES:     # outermost first: see handlers.gate
    router.middleware(middleware)

# order is irrelevant for routing (the router matches exactly / by longest prefix)
for module in (start, captcha, miniapp, menu, referrals, points, tasks, wallet, withdraw, transfers, support,
               moderation, admin, broadcast, admin_web_bot):
    router.include_router(module.router)
router.web_feature(admin_web_http)          # the admin panel and API under /admin (ADMIN_PUBLIC_URL)


@router.update(content("callback_query"), flags=UNGATED)
def stale_button(ctx: Context) -> None:
    """A button nothing handles (an old keyboard, a removed feature)."""
    ctx.answer(ctx.services.bot.t(ctx, "button_invalid"), show_alert=True)


@router.update(is_command)
def unknown_command(ctx: Context) -> None:
    ctx.reply(ctx.services.bot.t(ctx, "unknown_command"))


@router.on_error
def bad_input(ctx: Context, exc: Exception) -> None:
    """Input a handler did not expect (DETERMINISTIC_ERRORS): the user is told; the runner sends this
    and dead-letters the update instead of retrying it."""
    if isinstance(exc, DETERMINISTIC_ERRORS) and ctx.user_id is not None:
        tell(ctx, ctx.services.bot.t(ctx, "bad_input"))


@router.on_worker_start
def open_bot(services: Services) -> None:
    """Storage (repositories, cache, batcher), default tasks, texts, Bot API reads, captcha."""
    from storage.factory import install, redis_client
    settings = services.settings
    storage = install(services, settings)
    # the sender's 403 / "chat not found" flag, mirrored into the users table (kept apart from bans)
    services.on_blocked_bot(storage.store.users.set_blocked_bot)
    added, updated = sync_default_tasks(storage.store, settings)
    if added:
        logger.info("Seeded {} default task(s)", added)
    if updated:
        logger.info("Default task reward(s) follow the changed settings: {}", ", ".join(updated))
    rt = build_runtime(settings, storage, redis_client(settings, settings.redis_session_db))
    # pictures rendered ahead, each shown once (handlers.captcha_pool); with the captcha off, from its first use
    rt.captcha.pool.start(lazily=not settings.captcha_enabled)
    services.provide("bot", rt)
    jobs = [ban_ends_job(rt)] + ([export_job(rt)] if settings.enable_user_data_export else [])
    services.provide("cluster_jobs", ClusterJobs(rt, jobs).start())
    # the worker provides `sender` after the startup hooks: the engine looks it up when it checks
    services.provide("broadcasts", BroadcastEngine(rt, lambda: getattr(services, "sender", None)).start())


@router.on_worker_stop
def close_bot(services: Services) -> None:
    """Write what is batched and close storage and the Bot API client."""
    jobs = getattr(services, "cluster_jobs", None)
    if jobs is not None:
        jobs.stop()
    engine = getattr(services, "broadcasts", None)
    if engine is not None:
        engine.stop()
    services.bot.captcha.pool.stop()
    services.bot.api.close()
    services.bot.redis.close()
    services.storage.close()


def build_runtime(settings, storage, client: redis.Redis) -> Runtime:
    rt = Runtime(settings=settings, store=storage.store, users=storage.cache, redis=client, texts=Texts(settings.texts_dir),
                 api=BotApi(settings.telegram_api_url, settings.bot_token, settings.bot_api_timeout_s),
                 batcher=storage.batcher, prefix=Keys.for_token(settings.bot_token).prefix + "bot:")
    rt.signer = Signer(settings.bot_token or "local")
    rt.captcha = captcha.ImageCaptcha(settings.captcha_length, settings.captcha_max_attempts,
                                      settings.captcha_session_timeout / 1000, pool_size=settings.captcha_pool_size)
    return rt
