"""The BotTester harness: the few-line handler test docs/handlers.md shows, and what it offers."""
from __future__ import annotations

from botrunner.bot.context import Context, Services
from botrunner.bot.router import Router
from botrunner.bot.testing import BotTester

router = Router()


@router.command("start")
def start(ctx: Context) -> None:
    ctx.services.greeted.append(ctx.user_id)
    ctx.set_state("name")
    ctx.reply("Hello! What is your name?")


@router.state("name")
def name(ctx: Context) -> None:
    ctx.reset_state()
    ctx.reply(f"Nice to meet you, {ctx.text}.")


def test_a_conversation_in_a_few_lines():
    bot = BotTester(router, Services(greeted=[]))
    assert bot.texts(bot.command(42, "start")) == ["Hello! What is your name?"]
    assert bot.state_of(42) == "name"
    assert bot.texts(bot.text(42, "Ada")) == ["Nice to meet you, Ada."]
    assert bot.state_of(42) is None and bot.services.greeted == [42]


def test_outbox_helpers_and_update_builders():
    r = Router()
    r.command("menu")(lambda ctx: ctx.reply("menu", reply_markup={"inline_keyboard": [[
        {"text": "A", "callback_data": "a"}, {"text": "B", "callback_data": "b"}]]}))
    r.callback("a")(lambda ctx: ctx.answer("pressed A"))
    bot = BotTester(r)
    out = bot.command(1, "menu")
    assert [b["callback_data"] for b in bot.buttons(out)] == ["a", "b"] and bot.last[1] == out
    assert bot.press(1, "a") == [("answerCallbackQuery", {"callback_query_id": "2", "text": "pressed A"})]
    assert bot.last_context is not None and bot.last_context.callback_data == "a"
