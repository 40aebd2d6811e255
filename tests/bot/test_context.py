"""The context: ctx.data for middlewares, conversation writes staged until the update completes."""
from __future__ import annotations

import pytest

from botrunner.bot.context import Context
from botrunner.bot.router import Router
from botrunner.bot.states import Conversation, MemoryStates
from botrunner.bot.testing import BotTester
from tests.updates import message


def test_writes_are_staged_read_back_by_the_handler_and_stored_only_on_commit():
    states = MemoryStates()
    states.put(5, 5, Conversation("ask_amount", {"to": 9}))
    ctx = Context(message(1, 5, "10"), states=states)
    assert ctx.state == "ask_amount" and ctx.state_data == {"to": 9}
    ctx.update_state_data(amount=10)
    ctx.set_state("confirm")
    assert ctx.state == "confirm" and ctx.state_data == {"to": 9, "amount": 10}   # the handler sees its writes
    assert states.get(5, 5) == Conversation("ask_amount", {"to": 9})              # the store does not yet
    assert ctx.commit_state() and states.get(5, 5) == Conversation("confirm", {"to": 9, "amount": 10})
    assert not ctx.commit_state()                                                 # nothing staged any more


def test_state_data_is_a_copy_and_clear_keeps_the_data_while_reset_drops_it():
    states = MemoryStates()
    ctx = Context(message(1, 5, "x"), states=states)
    ctx.set_state_data({"a": 1})
    ctx.state_data["a"] = 2                          # a copy: only set_state_data changes the conversation
    ctx.set_state("s")
    ctx.clear_state()
    ctx.commit_state()
    assert states.get(5, 5) == Conversation(None, {"a": 1})
    again = Context(message(2, 5, "y"), states=states)
    again.reset_state()
    again.commit_state()
    assert states.records == {}


def test_a_handler_that_raises_leaves_the_conversation_as_it_was():
    router = Router()
    router.command("pay")(lambda ctx: ctx.set_state("paying"))

    @router.state("paying")
    def pay(ctx: Context) -> None:
        ctx.clear_state()
        ctx.reply("paid")
        raise ConnectionError("the database went away")

    bot = BotTester(router)
    bot.command(1, "pay")
    with pytest.raises(ConnectionError):
        bot.text(1, "100")
    assert bot.state_of(1) == "paying"               # the retry finds the step it was in


def test_ctx_data_is_per_update():
    router = Router()
    router.middleware(lambda ctx, call_next: (ctx.data.setdefault("n", ctx.update_id), call_next(ctx)) and None)
    router.default()(lambda ctx: ctx.reply(str(ctx.data)))
    bot = BotTester(router)
    assert bot.texts(bot.text(1, "a")) == ["{'n': 1}"] and bot.texts(bot.text(1, "b")) == ["{'n': 2}"]
