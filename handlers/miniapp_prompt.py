"""The Mini App prompt /start sends (a web_app button) and the users.captcha_state values of the
Mini App step; handlers.miniapp handles the verification that follows. Kept apart from it so that
/start (handlers.start) and the verification handler (which welcomes via handlers.start) import
no circle."""
from __future__ import annotations

from botrunner.bot.context import Context
from botrunner.miniapp.http import PROMPT
from handlers.runtime import runtime

MINIAPP_DONE = "miniapp"            # slider passed, the image captcha pending
DEVICE_TAKEN = "device-taken"       # refused: another account holds the device


def required(ctx: Context, user) -> bool:
    """Whether this unverified user still has the Mini App step before them."""
    return runtime(ctx).settings.miniapp_on and user.captcha_state != MINIAPP_DONE


def prompt(ctx: Context, user) -> None:
    """The web_app button (after the security notice again for a refused device: the rules decide
    anew at every verification, so once an admin cleared the device the next one passes)."""
    rt = runtime(ctx)
    if user.captcha_state == DEVICE_TAKEN:
        ctx.reply(rt.t(ctx, "miniapp_device_taken"))
    markup = {"inline_keyboard": [[{"text": rt.t(ctx, "btn_miniapp"), "web_app": {"url": rt.settings.miniapp_url}}]]}
    ctx.call("sendMessage", chat_id=ctx.chat_id, text=rt.t(ctx, "miniapp_prompt"), reply_markup=markup,
             _remember_as=PROMPT.format(ctx.user_id))
