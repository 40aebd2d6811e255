"""/start (registration, referral deep links, the captcha gate), /help and the language switch."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from botrunner.bot.callback_data import CallbackData
from botrunner.bot.context import Context
from botrunner.bot.router import Router
from handlers import miniapp_prompt, referrals
from handlers.flags import OPEN
from handlers.gate import USER, needs_captcha
from handlers.menu import show_menu
from handlers.runtime import runtime
from handlers.texts import LANGUAGE_NAMES
from handlers.ui import button, keyboard, respond

router = Router("start")


@dataclass
class LanguageChoice(CallbackData, prefix="lang"):
    code: str = ""


def start(ctx: Context) -> None:
    """Register new users (recording a referral), send the captcha when needed, else the menu."""
    rt = runtime(ctx)
    tg = ctx.effective_user
    payload = ctx.args[0][:64] if ctx.args else ""
    # the gate's moderation step looked the user up for this update already
    user = ctx.data[USER] if USER in ctx.data else rt.users.get(ctx.user_id)
    created = False
    if user is None:
        user, created = rt.store.users.register(
            ctx.user_id, username=tg.username or "", first_name=tg.first_name or "", last_name=tg.last_name or "",
            language_code=rt.texts.pick(tg.language_code or ""), is_premium=bool(tg.is_premium))
        ctx.data[USER] = user                             # what the texts of this update are chosen by
    if payload and user.referred_by is None and not user.captcha_passed:
        # attribution at /start, before the captcha; the bonus waits for the captcha
        referrals.attribute(ctx, payload)
    if needs_captcha(ctx, user) and not rt.is_admin(ctx.user_id):
        welcome = rt.t(ctx, "welcome_new", name=tg.first_name or "friend", bot=rt.settings.bot_name) if created else ""
        if miniapp_prompt.required(ctx, user):
            if welcome:
                ctx.reply(welcome)
            miniapp_prompt.prompt(ctx, user)              # the slider first; the image captcha (if on) follows
        else:
            rt.captcha.challenge(ctx, intro=welcome)      # one photo: the welcome opens its caption
        return
    if not user.captcha_passed:
        rt.store.users.set_captcha(ctx.user_id, True, "not required")
        welcome_verified(ctx)
        return
    show_menu(ctx)


def welcome_verified(ctx: Context) -> None:
    """After the captcha (or when none is required): pay the referral bonus once, welcome, menu."""
    rt = runtime(ctx)
    referrals.pay_bonus(ctx, ctx.user_id)
    ctx.reply(rt.t(ctx, "verified"))
    show_menu(ctx)


def help_(ctx: Context) -> None:
    rt = runtime(ctx)
    support = rt.t(ctx, "help_support", username=rt.settings.support_username) if rt.settings.support_username else ""
    text = rt.t(ctx, "help") + support
    if rt.is_admin(ctx.user_id):
        text += "\n\n" + rt.t(ctx, "help_admin")
    ctx.reply(text)


def language(ctx: Context) -> None:
    """Buttons for every catalog; the choice is stored on the user."""
    rt = runtime(ctx)
    rows = [[button(ctx, LANGUAGE_NAMES.get(code, code), LanguageChoice(code))] for code in rt.texts.languages]
    respond(ctx, rt.t(ctx, "language_pick"), keyboard(*rows))


def set_language(ctx: Context) -> None:
    rt = runtime(ctx)
    choice = LanguageChoice.of(ctx)
    code = choice.code if choice else ""
    if code not in rt.texts.languages:
        ctx.answer(rt.t(ctx, "button_invalid"), show_alert=True)
        return
    rt.store.users.set_language(ctx.user_id, code)
    if ctx.data.get(USER) is not None:
        ctx.data[USER] = dataclasses.replace(ctx.data[USER], language_code=code)   # the menu below is in `code`
    ctx.answer(rt.t(ctx, "language_set"))
    show_menu(ctx)


router.command("start", flags=OPEN)(start)
router.command("help", flags=OPEN)(help_)
router.command("language", "lang")(language)
router.callback("m:lang")(language)
router.callback(LanguageChoice)(set_language)
