"""Wallet: one EVM address per user and one user per address, checksum-validated (eth-utils, keccak)
and stored in its EIP-55 checksummed form. Changes follow WALLET_CHANGE_ALLOWED and
WALLET_CHANGE_COOLDOWN_S."""
from __future__ import annotations

import re

from eth_utils import to_checksum_address

from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import limits
from handlers.flags import SENSITIVE
from handlers.gate import clean_text
from handlers.runtime import runtime
from handlers.ui import button, keyboard, respond
from storage.records import DuplicateError

STATE = "wallet"
HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
router = Router("wallet")


def normalise(text: str) -> str | None:
    """The checksummed address, or None when `text` is not a valid EVM address.

    All-lowercase or all-uppercase hex carries no checksum and is accepted; mixed case must be a
    correct EIP-55 checksum (a typo in a checksummed address is caught here, not on chain).
    """
    text = text.strip()
    if not HEX_ADDRESS.fullmatch(text):
        return None
    checksummed = to_checksum_address(text.lower())
    body = text[2:]
    if body != body.lower() and body != body.upper() and text != checksummed:
        return None
    if int(body, 16) == 0:
        return None                       # the zero address burns whatever is sent to it
    return checksummed


def show(ctx: Context) -> None:
    rt = runtime(ctx)
    user = rt.store.users.get(ctx.user_id)
    if ctx.command == "wallet" and ctx.args:
        save(ctx, ctx.args[0][:100])
        return
    text = rt.t(ctx, "wallet_set_is", address=user.wallet_address) if user.wallet_address else rt.t(ctx, "wallet_unset")
    rows = []
    if not user.wallet_address or rt.settings.wallet_change_allowed:
        rows.append([button(ctx, rt.t(ctx, "btn_wallet_set"), "wal:set")])
    rows.append([button(ctx, rt.t(ctx, "btn_back"), "m:menu")])
    respond(ctx, text, keyboard(*rows))


def ask(ctx: Context) -> None:
    rt = runtime(ctx)
    ctx.set_state(STATE)
    ctx.reply(rt.t(ctx, "wallet_ask"))


def on_address(ctx: Context) -> None:
    ctx.clear_state()
    save(ctx, clean_text(ctx, 100))


def save(ctx: Context, text: str) -> None:
    rt = runtime(ctx)
    address = normalise(text)
    if address is None:
        ctx.reply(rt.t(ctx, "wallet_invalid"))
        return
    user = rt.store.users.get(ctx.user_id)
    if user.wallet_address == address:
        ctx.reply(rt.t(ctx, "wallet_same"))
        return
    if user.wallet_address and not rt.settings.wallet_change_allowed:
        ctx.reply(rt.t(ctx, "wallet_locked"))
        return
    cooldown_key = rt.key("wallet-changed", ctx.user_id)
    if user.wallet_address and rt.redis.exists(cooldown_key):
        ctx.reply(rt.t(ctx, "wallet_cooldown", hours=max(1, rt.redis.ttl(cooldown_key) // 3600)))
        return
    if not limits.allow(ctx, "wallet_change"):
        return
    owner = rt.store.users.find_by_wallet(address)
    if owner is not None and owner.id != ctx.user_id:
        ctx.reply(rt.t(ctx, "wallet_taken"))
        return
    try:
        rt.store.users.set_wallet(ctx.user_id, address)
    except DuplicateError:                   # another user took it between the check and the write
        ctx.reply(rt.t(ctx, "wallet_taken"))
        return
    if rt.settings.wallet_change_cooldown_s:
        rt.redis.set(cooldown_key, 1, ex=rt.settings.wallet_change_cooldown_s)
    ctx.reply(rt.t(ctx, "wallet_saved", address=address))


router.command("wallet", flags=SENSITIVE)(show)
router.callback("m:wallet")(show)
router.callback("wal:set", flags=SENSITIVE)(ask)
router.state(STATE)(on_address)
