"""Pure unit tests of the handler API: router resolution, context, services (no Redis, no network)."""
from __future__ import annotations

import pytest

from botrunner.bot.context import Context, Services
from botrunner.bot.router import Router
from tests.updates import callback, message

# --- router and context ---

def make_router(calls: list) -> Router:
    router = Router()
    router.command("start")(lambda ctx: calls.append(("start", ctx.args)) or ctx.reply("hello"))
    router.callback("claim:")(lambda ctx: calls.append(("claim", ctx.callback_data)) or ctx.answer("ok"))
    router.callback("claim:big:")(lambda ctx: calls.append(("big", ctx.callback_data)) or ctx.edit("done"))
    router.state("wallet")(lambda ctx: calls.append(("wallet", ctx.text)) or ctx.clear_state())
    router.text()(lambda ctx: calls.append(("text", ctx.text)) or ctx.set_state("wallet"))
    return router


def test_router_commands_callbacks_states_text():
    calls: list = []
    router = make_router(calls)
    ctx = Context(message(1, 5, "/start ref42"), bot_username="MyBot")
    assert router.handle(ctx)
    assert ctx.outbox == [("sendMessage", {"chat_id": 5, "text": "hello"})]
    states = ctx.states
    for update_id, text in ((2, "hi"), (3, "0xabc")):
        step = Context(message(update_id, 5, text), states=states)
        router.handle(step)
        step.commit_state()                 # what the worker does when the update completes
    router.handle(Context(message(4, 5, "/START@mybot"), states=states))
    assert not router.handle(Context(message(5, 5, "/start@otherbot"), states=states, bot_username="mybot"))
    big = Context(callback(6, 5, "claim:big:1"))
    router.handle(big)
    router.handle(Context(callback(7, 5, "claim:1")))
    assert calls == [("start", ["ref42"]), ("text", "hi"), ("wallet", "0xabc"), ("start", []),
                     ("big", "claim:big:1"), ("claim", "claim:1")]
    assert big.outbox == [("editMessageText", {"chat_id": 5, "message_id": 3, "text": "done"})]


def test_unmatched_update_goes_to_default_or_nowhere():
    router = Router()
    assert not router.handle(Context({"update_id": 1, "some_future_update": {"x": 1}}))
    seen = []
    router.default()(lambda ctx: seen.append(ctx.update_id))
    router.handle(Context(message(9, 1, "x")))
    assert seen == [9]


def test_services_provide_and_flush_hooks():
    flushed = []
    services = Services(users="repo")
    services.add_flush_hook(lambda: flushed.append(1))
    services.flush()
    assert services.users == "repo" and flushed == [1]
    with pytest.raises(AttributeError):
        _ = services.missing
