"""botrunner command line: every command is thin; it parses options and calls into the packages."""
from __future__ import annotations

import sys

import click

from botrunner.config import ConfigError, Settings, describe, load_settings
from botrunner.logs import setup_from_settings

EXIT_CONFIG = 2        # invalid configuration (click also uses 2 for usage errors)
EXIT_NOT_BUILT = 3     # the command exists but its work has not been built yet


pass_settings = click.make_pass_decorator(Settings)


def not_built(what: str, issue: str) -> None:
    """Say plainly that a command is not built yet, and exit non-zero."""
    click.echo(f"botrunner {what}: not built yet (arrives with the issue \"{issue}\").", err=True)
    sys.exit(EXIT_NOT_BUILT)


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
    not_built("start", "Runner core")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
def emulator(host: str, port: int) -> None:
    """Run the local Bot API server (a faithful stand-in for api.telegram.org)."""
    not_built("emulator", "Foundation")


@main.command()
@pass_settings
def loadtest(settings: Settings) -> None:
    """Drive simulated users at a bot through the local Bot API server and report latency."""
    not_built("loadtest", "Demo, load test and benchmarks")


@main.command()
@pass_settings
def demo(settings: Settings) -> None:
    """Start everything on embedded defaults and show simulated users going through the bot."""
    not_built("demo", "Demo, load test and benchmarks")


@main.command()
@pass_settings
def status(settings: Settings) -> None:
    """Show workers, the poll-lease holder, lane lag and dead letters (reads Redis only)."""
    not_built("status", "Runner core")


@main.group()
def db() -> None:
    """Database administration."""


@db.command("init")
@pass_settings
def db_init(settings: Settings) -> None:
    """Create every index and table (idempotent); report what was created."""
    not_built("db init", "Storage")


@db.command("stats")
@pass_settings
def db_stats(settings: Settings) -> None:
    """Show collection counts and index usage."""
    not_built("db stats", "Storage")


@main.command("config")
@click.option("--markdown", is_flag=True, help="Print the configuration reference (docs/configuration.md).")
@pass_settings
def config_cmd(settings: Settings, markdown: bool) -> None:
    """Print the effective settings, secrets masked."""
    if markdown:
        from botrunner.config_doc import reference_markdown
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
    from botrunner.preflight import run_checks
    results = run_checks(settings.replace(telegram_api_url=api_url) if api_url else settings)
    for result in results:
        click.echo(f"[{'ok' if result.ok else 'FAIL':>4}] {result.name}: {result.detail}")
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
