"""The starter bot: /start greets, /help lists the commands, plain text is echoed.

It exists so `botrunner start` runs a real bot out of the box; the airdrop bot replaces it
(BOT_HANDLERS=handlers.app:router stays the default).
"""
from __future__ import annotations

from botrunner.context import Context
from botrunner.router import Router

router = Router()

COMMANDS = {"start": "say hello", "help": "list the commands"}


@router.command("start")
def start(ctx: Context) -> None:
    """Greet the user by first name."""
    user = ctx.update.effective_user
    name = user.first_name if user and user.first_name else "there"
    ctx.reply(f"Hello, {name}! I am running on botrunner. Send /help to see what I can do.")


@router.command("help")
def help_(ctx: Context) -> None:
    """List the commands."""
    ctx.reply("Commands:\n" + "\n".join(f"/{name} - {what}" for name, what in COMMANDS.items())
              + "\nAny other text is echoed back.")


@router.text()
def echo(ctx: Context) -> None:
    """Echo plain text."""
    ctx.reply(ctx.text[:4096])
