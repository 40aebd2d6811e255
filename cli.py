"""botrunner command line: every command is thin; it parses options and calls into the packages."""
from __future__ import annotations

import sys

import click

from botrunner.config.settings import ConfigError, Settings, describe, load_settings
from botrunner.logs import setup_from_settings

EXIT_CONFIG = 2        # invalid configuration (click also uses 2 for usage errors)
LOCAL_TOKEN = "1000000:local-bot-api-server"   # used with --api-url and no BOT_TOKEN (local servers only)


pass_settings = click.make_pass_decorator(Settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--env-file", default=".env", show_default=True, envvar="BOTRUNNER_ENV_FILE",
              type=click.Path(dir_okay=False), help="Optional .env file read before the environment.")
@click.version_option(package_name="botrunner")
@click.pass_context
def main(ctx: click.Context, env_file: str) -> None:
    """Run a big Telegram bot: supervisor + workers, one fenced poller, durable per-chat lanes."""
    try:
        settings = load_settings(env_file=env_file)
    except ConfigError as exc:
        click.echo(f"botrunner: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    setup_from_settings(settings)
    ctx.obj = settings


@main.command()
@click.option("--workers", "-w", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: WORKERS, 2).")
@click.option("--api-url", default=None, help="Bot API server base URL (default: TELEGRAM_API_URL).")
@pass_settings
def start(settings: Settings, workers: int | None, api_url: str | None) -> None:
    """Start the supervisor and its worker processes."""
    from botrunner.supervisor.arbiter import Supervisor
    settings = settings.replace(workers=workers, telegram_api_url=api_url.rstrip("/") if api_url else None)
    if settings.use_webhook:      # webhook mode: the secret is checked with the settings; the URL here
        from botrunner.intake.webhook_registration import set_problem
        problem = set_problem(settings)
        if problem:
            click.echo(f"botrunner start: {problem}", err=True)
            sys.exit(EXIT_CONFIG)
    if not settings.bot_token:
        if settings.telegram_api_url == "https://api.telegram.org":
            click.echo("botrunner start: BOT_TOKEN is not set (get one from @BotFather), or point --api-url at a "
                       "local Bot API server such as `botrunner emulator`.", err=True)
            sys.exit(EXIT_CONFIG)
        settings = settings.replace(bot_token=LOCAL_TOKEN)
    sys.exit(Supervisor(settings).run())


# --- webhook: operator commands around setWebhook (docs/webhook.md) ---
@main.group()
def webhook() -> None:
    """The bot's webhook at the Bot API: info, set (WEBHOOK_URL + secret), delete (back to polling)."""


def _webhook_settings(settings: Settings, api_url: str | None) -> Settings:
    settings = settings.replace(telegram_api_url=api_url.rstrip("/") if api_url else None)
    if settings.bot_token:
        return settings
    if settings.telegram_api_url == "https://api.telegram.org":
        raise click.UsageError("BOT_TOKEN is not set (or pass --api-url of a local Bot API server)")
    return settings.replace(bot_token=LOCAL_TOKEN)


def _api_failure(exc: Exception) -> None:
    click.echo(f"botrunner webhook: {exc}", err=True)
    sys.exit(1)


@webhook.command("info")
@click.option("--api-url", default=None, help="Bot API server base URL (default: TELEGRAM_API_URL).")
@pass_settings
def webhook_info_cmd(settings: Settings, api_url: str | None) -> None:
    """Show getWebhookInfo (URL, pending updates, last error) and the POSTs botrunner refused."""
    from botrunner.intake import webhook_registration as reg
    from botrunner.intake.raw_api import ApiError
    settings = _webhook_settings(settings, api_url)
    try:
        info = reg.webhook_info(settings)
    except ApiError as exc:
        _api_failure(exc)
    for line in reg.info_lines(info, reg.rejected_counts(settings)):
        click.echo(line)


@webhook.command("set")
@click.option("--api-url", default=None, help="Bot API server base URL (default: TELEGRAM_API_URL).")
@pass_settings
def webhook_set_cmd(settings: Settings, api_url: str | None) -> None:
    """setWebhook(WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET, WEBHOOK_MAX_CONNECTIONS); pending updates are kept."""
    from botrunner.bot.router import load_router
    from botrunner.intake import webhook_registration as reg
    from botrunner.intake.raw_api import ApiError
    settings = _webhook_settings(settings, api_url)
    problem = reg.set_problem(settings)
    if problem:
        raise click.UsageError(problem)
    try:
        click.echo(reg.set_webhook(settings, reg.allowed_updates(load_router(settings.bot_handlers))))
    except ApiError as exc:
        _api_failure(exc)


@webhook.command("delete")
@click.option("--api-url", default=None, help="Bot API server base URL (default: TELEGRAM_API_URL).")
@pass_settings
def webhook_delete_cmd(settings: Settings, api_url: str | None) -> None:
    """deleteWebhook, keeping pending updates: then start with USE_WEBHOOK unset to long-poll."""
    from botrunner.intake import webhook_registration as reg
    from botrunner.intake.raw_api import ApiError
    try:
        reg.delete_webhook(_webhook_settings(settings, api_url))
    except ApiError as exc:
        _api_failure(exc)
    click.echo("webhook deleted (pending updates kept); start without USE_WEBHOOK to receive them by polling")
# --- end webhook ---


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--flood/--no-flood", default=False, show_default=True, help="Answer 429 retry_after past the limits.")
@click.option("--flood-chat-rate", default=1.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Messages per second into one chat.")
@click.option("--flood-chat-burst", default=3, show_default=True, type=click.IntRange(1), help="Burst into one chat.")
@click.option("--flood-group-per-minute", default=20, show_default=True, type=click.IntRange(1),
              help="Messages per minute into one group or channel.")
@click.option("--flood-global-rate", default=30.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Bulk messages per second across all chats of one bot.")
@click.option("--flood-global-burst", default=30, show_default=True, type=click.IntRange(1),
              help="Burst across all chats of one bot.")
@click.option("--flood-reply-window", default=60.0, show_default=True, type=click.FloatRange(min=0),
              help="A send to a user who wrote within this many seconds is an answer, not a bulk send.")
@click.option("--callback-ttl", default=15.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a callback query can be answered.")
@click.option("--webhook-retry-base", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="First retry delay after a failed webhook delivery (doubles per attempt).")
@click.option("--webhook-retry-max", default=60.0, show_default=True, type=click.FloatRange(min=0),
              help="Longest delay between webhook delivery attempts.")
@click.option("--webhook-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds a webhook POST may take before it counts as failed.")
@click.option("--first-update-id", default=1, show_default=True, type=click.IntRange(1),
              help="update_id of the first update of each bot token.")
def emulator(host: str, port: int, flood: bool, flood_chat_rate: float, flood_chat_burst: int,
             flood_group_per_minute: int, flood_global_rate: float, flood_global_burst: int,
             flood_reply_window: float, callback_ttl: float,
             webhook_retry_base: float, webhook_retry_max: float, webhook_timeout: float,
             first_update_id: int) -> None:
    """Run the local Bot API server (a faithful stand-in for api.telegram.org)."""
    from botrunner.emulator import serve
    serve(host, port, flood={"enabled": flood, "chat_rate": flood_chat_rate, "chat_burst": flood_chat_burst,
                             "group_per_minute": flood_group_per_minute, "global_rate": flood_global_rate,
                             "global_burst": flood_global_burst, "reply_window_s": flood_reply_window},
          callback_ttl=callback_ttl, webhook_retry_base=webhook_retry_base, webhook_retry_max=webhook_retry_max,
          webhook_timeout=webhook_timeout, first_update_id=first_update_id)


@main.command()
@click.option("--api-url", default=None, help="Local Bot API server (default: TELEGRAM_API_URL).")
@click.option("--token", default=None, help="The bot's token (default: BOT_TOKEN, else the local token).")
@click.option("--requests", "requests_", default=1000, show_default=True, type=click.IntRange(1),
              help="Guide's test: /start commands from new users.")
@click.option("--batches", default=10, show_default=True, type=click.IntRange(1), help="Guide's test: batches.")
@click.option("--interval", default=0.1, show_default=True, type=click.FloatRange(min=0),
              help="Guide's test: seconds between batches.")
@click.option("--rate", default=None, type=click.FloatRange(min=0.1),
              help="Open loop instead: /start per second (with --duration and --users).")
@click.option("--duration", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Open loop: seconds.")
@click.option("--users", default=1000, show_default=True, type=click.IntRange(1),
              help="Open loop: distinct users (a user's first /start is new, later ones returning).")
@click.option("--first-user-id", default=None, type=click.IntRange(1), help="Lowest user id (default: random).")
@click.option("--reply-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds after which a missing reply counts as a failure.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the report.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--webhook", "webhook_url", default=None, help="The guide's webhook test: POST the updates to this "
              "URL (replies timed too when --api-url / TELEGRAM_API_URL is a local Bot API server).")
@click.option("--secret", default=None, help="Webhook mode: the secret header (default: TELEGRAM_WEBHOOK_SECRET).")
@click.option("--timeout", "post_timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Webhook mode: seconds a POST may take.")
@pass_settings
def loadtest(settings: Settings, api_url: str | None, token: str | None, requests_: int, batches: int,
             interval: float, rate: float | None, duration: float, users: int, first_user_id: int | None,
             reply_timeout: float, as_json: bool, quiet: bool, webhook_url: str | None, secret: str | None,
             post_timeout: float) -> None:
    """Drive simulated /start users at a bot through the local Bot API server; report latency, PASS/FAIL."""
    import asyncio
    import json

    from botrunner.tools import loadtest as lt
    if webhook_url:               # --- webhook mode (docs/webhook.md) ---
        import random

        import uvloop  # the client loop: less of its own time in the measured latencies

        from botrunner.tools import webhook_loadtest as wl
        replies_at = api_url or (settings.telegram_api_url if settings.telegram_api_url != "https://api.telegram.org"
                                 else None)
        secret = secret or settings.webhook_secret
        if not secret:
            raise click.BadParameter("the webhook's secret: --secret or TELEGRAM_WEBHOOK_SECRET", param_hint="--secret")
        title = wl.describe(webhook_url, requests_, batches, interval, post_timeout)
        webhook_run = uvloop.run(wl.run_webhook_load(
            webhook_url, secret, requests=requests_, batches=batches, interval=interval, timeout=post_timeout,
            first_id=first_user_id or random.randrange(1, 4000) * 1_000_000, api_url=replies_at,
            token=token or settings.bot_token or LOCAL_TOKEN, reply_timeout=reply_timeout))
        click.echo(json.dumps(wl.as_json(webhook_run, title)) if as_json else wl.report(webhook_run, title))
        sys.exit(0 if webhook_run.passed() else 1)
    api_url = api_url or settings.telegram_api_url
    if api_url == "https://api.telegram.org":
        raise click.BadParameter("load tests run against a local Bot API server: --api-url http://127.0.0.1:8081 "
                                 "(`botrunner emulator`)", param_hint="--api-url")
    title = lt.describe(rate, requests_, batches, interval, duration, users)
    try:
        run = asyncio.run(lt.run_load(api_url, token or settings.bot_token or LOCAL_TOKEN, requests=requests_,
                                      batches=batches, interval=interval, rate=rate, duration=duration, users=users,
                                      first_user=first_user_id, reply_timeout=reply_timeout, show_progress=not quiet))
    except lt.LoadTestError as exc:
        click.echo(f"botrunner loadtest: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(json.dumps(lt.as_json(run, title)) if as_json else lt.report(run, title, rate is not None))
    sys.exit(0 if run.summary().passed() else 1)


@main.command()
@click.option("--users", default=200, show_default=True, type=click.IntRange(1, 100000),
              help="Simulated users, each going through /start, /help and a text message.")
@click.option("--workers", "-w", default=4, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 1000),
              help="Users talking to the bot at the same time.")
@pass_settings
def demo(settings: Settings, users: int, workers: int, concurrency: int) -> None:
    """Start everything on embedded defaults and show simulated users going through the bot."""
    from botrunner.tools.demo import run_demo
    sys.exit(run_demo(f"{settings.state_dir}/demo", users=users, workers=workers, concurrency=concurrency))


@main.command()
@pass_settings
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def status(settings: Settings, as_json: bool) -> None:
    """Show workers, the poll-lease holder, lane lag and dead letters (reads Redis only)."""
    import dataclasses
    import json

    import redis

    from botrunner.redis_keys import Keys
    from botrunner.tools.status import render, snapshot
    client = redis.Redis.from_url(settings.redis_url_for(settings.redis_dedup_db), socket_timeout=5)
    try:
        snap = snapshot(client, Keys.for_token(settings.bot_token or LOCAL_TOKEN), settings.lanes)
    except (redis.RedisError, OSError) as exc:
        click.echo(f"botrunner status: cannot read Redis ({exc}); is REDIS_URL right, or is the supervisor "
                   "with its embedded Redis running?", err=True)
        sys.exit(1)
    click.echo(json.dumps(dataclasses.asdict(snap)) if as_json else "\n".join(render(snap)))


@main.group()
def db() -> None:
    """Database administration."""


@db.command("init")
@pass_settings
def db_init(settings: Settings) -> None:
    """Create every index and table (idempotent); report what was created."""
    from storage.db_admin import init_lines
    for line in init_lines(settings):
        click.echo(line)


@db.command("stats")
@pass_settings
def db_stats(settings: Settings) -> None:
    """Show collection counts and index usage."""
    from storage.db_admin import stats_lines
    for line in stats_lines(settings):
        click.echo(line)


@main.command("config")
@click.option("--markdown", is_flag=True, help="Print the configuration reference (docs/configuration.md).")
@pass_settings
def config_cmd(settings: Settings, markdown: bool) -> None:
    """Print the effective settings, secrets masked."""
    if markdown:
        from botrunner.config.reference import reference_markdown
        click.echo(reference_markdown(), nl=False)
        return
    rows = describe(settings)
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {value}" + ("" if source == "default" else "   (set)"))


@main.command()
@click.option("--api-url", default=None, help="Bot API server base URL (default: TELEGRAM_API_URL).")
@pass_settings
def check(settings: Settings, api_url: str | None) -> None:
    """Check configuration, state directory, Redis, database and the Bot API; exit non-zero on a failure."""
    from botrunner.tools.preflight import run_checks
    results = run_checks(settings.replace(telegram_api_url=api_url) if api_url else settings)
    for result in results:
        click.echo(f"[{'ok' if result.ok else 'FAIL':>4}] {result.name}: {result.detail}")
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
