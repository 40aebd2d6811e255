"""botrunner command line: every command is thin; it parses options and calls into the packages."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from botrunner.config.settings import Settings, describe, load_settings
from botrunner.errors import ConfigError, LoadTestError
from botrunner.logs import setup_from_settings

EXIT_CONFIG = 2        # invalid configuration (click also uses 2 for usage errors)
if TYPE_CHECKING:       # the commands import their packages lazily, so `botrunner --help` stays fast
    import redis

    from botrunner.processing.dead_letters import DeadLetters
    from botrunner.redis_keys import Keys

LOCAL_TOKEN = "1000000:local-bot-api-server"   # used with --api-url and no BOT_TOKEN (local servers only)


pass_settings = click.make_pass_decorator(Settings)


class OperatorCommand(click.Command):
    """A command that records its path, so the group's error boundary can name it."""

    def invoke(self, ctx: click.Context) -> Any:
        ctx.meta["botrunner.command"] = ctx.command_path
        return super().invoke(ctx)


class OperatorGroup(click.Group):
    """The one error boundary of every command: a failure is one line on stderr and a non-zero exit.

    click's own exceptions (usage errors, --help, sys.exit) pass through untouched; anything else
    is said in the operator's words (botrunner.tools.operator_errors) with exit status 1, or the
    error's own `exit_status` (2 for a configuration that a restart cannot fix)."""

    command_class = OperatorCommand
    group_class = type        # subgroups (db, dead) are OperatorGroups too

    def invoke(self, ctx: click.Context) -> Any:
        ctx.meta.setdefault("botrunner.command", ctx.command_path)
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            from botrunner.tools.operator_errors import one_line
            settings = ctx.obj if isinstance(ctx.obj, Settings) else None
            click.echo(f"{ctx.meta['botrunner.command']}: {one_line(exc, settings)}", err=True)
            sys.exit(getattr(exc, "exit_status", 1))


def bot_keys(settings: Settings, command: str) -> tuple[Keys, str, str]:
    """The keys of the bot BOT_TOKEN names; refuses to guess without one (an empty answer for the
    wrong bot looks just like a dead bot). With a local Bot API server, the local token's bot."""
    from botrunner.errors import OperatorError
    from botrunner.redis_keys import Keys, bot_id
    if not settings.bot_token and settings.telegram_api_url == "https://api.telegram.org":
        raise OperatorError(f"BOT_TOKEN is not set, so it is unknown which bot to read (keys botrunner:<bot id>:*); "
                            f"run it with the service's settings: botrunner --env-file /etc/botrunner/botrunner.env "
                            f"{command}")
    token = settings.bot_token or LOCAL_TOKEN
    return Keys.for_token(token), bot_id(token), token


def pipeline_redis(settings: Settings) -> redis.Redis:
    """A client of the pipeline database; the embedded one only when it exists under STATE_DIR."""
    import os

    from botrunner import redis_clients
    from botrunner.errors import OperatorError
    if settings.embedded_redis and not os.path.exists(settings.embedded_redis_socket):
        raise OperatorError(f"no embedded Redis under STATE_DIR={settings.state_path} (no socket "
                            f"{settings.embedded_redis_socket}): the bot is not running with this STATE_DIR, or it "
                            "uses a shared Redis: set STATE_DIR or REDIS_URL as the service has them")
    return redis_clients.sync_client(settings, settings.redis_dedup_db, timeout=5)


@click.group(cls=OperatorGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    if ctx.invoked_subcommand in ("start", "check", "config"):
        _log_config_notices(env_file)
    ctx.obj = settings


def _log_config_notices(env_file: str) -> None:
    """Once per start (and in `check`/`config`): the Node bot's variables botrunner ignores, and
    misspelt names (names only, never values)."""
    from loguru import logger

    from botrunner.config.settings import config_notices, read_source
    for line in config_notices(read_source(env_file=env_file)):
        logger.warning("Configuration: {}", line)


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
    from botrunner.errors import ApiError
    from botrunner.intake import webhook_registration as reg
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
    from botrunner.errors import ApiError
    from botrunner.intake import webhook_registration as reg
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
    from botrunner.errors import ApiError
    from botrunner.intake import webhook_registration as reg
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
    except LoadTestError as exc:
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
@click.option("--api-url", default=None, help="Bot API server base URL (default: TELEGRAM_API_URL).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@pass_settings
def status(settings: Settings, api_url: str | None, as_json: bool) -> None:
    """Show one bot's workers, poll lease, last poll error, webhook, lane lag and dead letters."""
    import dataclasses
    import json

    from botrunner.errors import OperatorError
    from botrunner.tools.operator_errors import redis_where
    from botrunner.tools.status import bots_in, render, snapshot, webhook_state
    settings = settings.replace(telegram_api_url=api_url.rstrip("/") if api_url else None)
    keys, bot, token = bot_keys(settings, "status")
    client = pipeline_redis(settings)
    snap = snapshot(client, keys, settings.lanes)
    if not (snap.workers or snap.poll_offset is not None or snap.poll_error or snap.dead_letters):
        others = [b for b in bots_in(client) if b != bot]
        raise OperatorError(f"no trace of bot {bot} in {redis_where(settings)} (never started here?)"
                            + (f"; this Redis holds bots {', '.join(others)}: is BOT_TOKEN right?" if others else ""))
    snap.bot = f"{bot} (keys {keys.prefix}*)"
    snap.source = f"{redis_where(settings)}; STATE_DIR {settings.state_path}"
    snap.webhook = webhook_state(settings.telegram_api_url, token)
    click.echo(json.dumps(dataclasses.asdict(snap)) if as_json else "\n".join(render(snap)))


@main.group()
def db() -> None:
    """Database administration."""


@db.command("init")
@pass_settings
def db_init(settings: Settings) -> None:
    """Create every index and table (idempotent); report what was created."""
    from storage.db_admin import init_lines
    for line in list(init_lines(settings)):     # list(): a failure prints nothing half-way
        click.echo(line)


@db.command("stats")
@pass_settings
def db_stats(settings: Settings) -> None:
    """Show collection counts and index usage."""
    from pathlib import Path

    from botrunner.errors import OperatorError
    from storage.db_admin import stats_lines
    if not settings.mongodb_url and not Path(settings.sqlite_file).exists():
        raise OperatorError(f"no SQLite database at {settings.sqlite_file} (STATE_DIR={settings.state_path}): is "
                            "STATE_DIR (or MONGODB_URL) set as the service has it? `botrunner db init` creates one")
    for line in list(stats_lines(settings)):
        click.echo(line)


@main.group()
def migrate() -> None:
    """Bring data from another bot into botrunner's store."""


@migrate.command("from-node")
@click.option("--mongodb-url", required=True, envvar="NODE_MONGODB_URL",
              help="The Node airdrop bot's MongoDB URL (read only; default: NODE_MONGODB_URL).")
@click.option("--database", default=None, help="Its database, when the URL names none "
              "(default: telegram_airdrop_bot, the Node bot's default).")
@click.option("--dry-run", is_flag=True, help="Read and map everything, write nothing; print the report.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100000),
              help="Documents per read and per write.")
@pass_settings
def migrate_from_node(settings: Settings, mongodb_url: str, database: str | None, dry_run: bool,
                      batch_size: int) -> None:
    """Import users, referrals, the ledger, submissions, transfers, withdrawals, tickets and bans from
    the Node airdrop bot (idempotent: run it again to resume or to pick up what is new)."""
    from botrunner.tools.node_migration import run_migration
    try:
        lines = run_migration(settings, mongodb_url, database, dry_run, batch_size, progress=click.echo)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mongodb-url") from None
    for line in lines:
        click.echo(line)


@main.group()
def dead() -> None:
    """Dead letters: updates that failed MAX_ATTEMPTS times (list, replay into the lanes, drop)."""


def _dead_letters(settings: Settings, command: str) -> tuple[DeadLetters, str]:
    from botrunner.processing.dead_letters import DeadLetters
    keys, bot, _ = bot_keys(settings, command)
    return DeadLetters(pipeline_redis(settings), keys, settings.lanes), bot


def _chosen_ids(letters: DeadLetters, ids: tuple[str, ...], every: bool, command: str) -> list[str]:
    from botrunner.errors import OperatorError
    if bool(ids) == every:
        raise OperatorError(f"name the entries (ids from `botrunner dead list`) or pass --all, not both: "
                            f"botrunner {command} ID [ID ...] | --all")
    return list(letters.all_ids()) if every else list(ids)


@dead.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100000), help="Entries shown.")
@click.option("--newest", is_flag=True, help="Newest first (default: oldest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, with the raw update.")
@pass_settings
def dead_list(settings: Settings, limit: int, newest: bool, as_json: bool) -> None:
    """List dead letters: id, update_id, lane, attempts, when, last error line."""
    import dataclasses
    import json
    import time
    letters, bot = _dead_letters(settings, "dead list")
    shown = letters.list(limit, oldest_first=not newest)
    for letter in shown:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(letter.at_ms / 1000))
        click.echo(json.dumps(dataclasses.asdict(letter)) if as_json else
                   f"{letter.id}  update {letter.update_id}  lane {letter.lane}  attempts {letter.attempts}  "
                   f"{when} UTC  {letter.last_error_line[:160]}")
    if not as_json:
        click.echo(f"bot {bot}: {letters.count()} dead letter(s), {len(shown)} shown")


@dead.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Replay every dead letter.")
@pass_settings
def dead_replay(settings: Settings, ids: tuple[str, ...], every: bool) -> None:
    """Put dead letters back into their lanes (fix the handler first, or they fail again)."""
    letters, bot = _dead_letters(settings, "dead replay")
    chosen = _chosen_ids(letters, ids, every, "dead replay")
    lanes = [letters.replay(entry_id) for entry_id in chosen]
    missing = [i for i, lane in zip(chosen, lanes) if lane is None]
    for entry_id in missing:
        click.echo(f"  {entry_id}: no such dead letter", err=True)
    click.echo(f"bot {bot}: replayed {len(chosen) - len(missing)} of {len(chosen)} dead letter(s)")
    sys.exit(1 if missing else 0)


@dead.command("drop")
@click.argument("ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Drop every dead letter.")
@click.option("--yes", is_flag=True, help="Needed with --all.")
@pass_settings
def dead_drop(settings: Settings, ids: tuple[str, ...], every: bool, yes: bool) -> None:
    """Delete dead letters for good."""
    from botrunner.errors import OperatorError
    if every and not yes:
        raise OperatorError("dropping every dead letter loses those updates for good: add --yes")
    letters, bot = _dead_letters(settings, "dead drop")
    chosen = _chosen_ids(letters, ids, every, "dead drop")
    dropped = sum(letters.drop(entry_id) for entry_id in chosen)
    click.echo(f"bot {bot}: dropped {dropped} of {len(chosen)} dead letter(s)")
    sys.exit(0 if dropped == len(chosen) else 1)


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
@click.pass_context
def check(ctx: click.Context, api_url: str | None) -> None:
    """Check configuration, env file, state directory, Redis, database, Bot API and webhook; exit 1 on a failure."""
    from botrunner.tools.preflight import run_checks
    settings = ctx.ensure_object(Settings).replace(telegram_api_url=api_url.rstrip("/") if api_url else None)
    root = ctx.find_root()
    named = root.get_parameter_source("env_file") != click.core.ParameterSource.DEFAULT
    results = run_checks(settings, env_file=root.params.get("env_file"), env_file_named=named)
    for result in results:
        click.echo(f"[{'ok' if result.ok else 'FAIL':>4}] {result.name}: {result.detail}")
    failed = [r.name for r in results if not r.ok]
    click.echo(f"botrunner check: {len(failed)} check(s) failed: {', '.join(failed)}" if failed
               else f"botrunner check: all {len(results)} checks passed", err=bool(failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
