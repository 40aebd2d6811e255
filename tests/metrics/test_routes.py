"""Route labels: each registration names itself (bounded by what the bot registered); handlers are timed under it."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from botrunner.bot.filters import content
from botrunner.bot.router import Router
from botrunner.bot.testing import BotTester


def runs(route: str) -> float:
    return REGISTRY.get_sample_value("botrunner_handler_duration_seconds_count", {"route": route}) or 0.0


def test_each_kind_of_registration_has_its_label_and_is_timed():
    root, shop = Router("root"), Router("shop")
    root.include_router(shop)
    seen: list[str] = []
    record = lambda ctx: seen.append(ctx.route)
    shop.command("buy")(lambda ctx: (record(ctx), ctx.set_state("paying")))
    shop.callback("item:")(record)
    shop.state("paying")(record)
    root.update(content("photo"))(record)
    bot = BotTester(root)
    before = {r: runs(r) for r in ("command:buy", "callback:item:", "state:paying", "update")}
    bot.command(1, "buy")
    bot.text(1, "card 4242")
    bot.press(1, "item:7")
    bot.photo(2)
    bot.text(3, "nobody handles plain text here")
    assert seen == ["command:buy", "state:paying", "callback:item:", "update"]
    assert {r: runs(r) - before[r] for r in before} == {r: 1 for r in before}


def test_a_failing_handler_is_timed_too_and_unmatched_updates_are_none():
    router = Router()

    @router.command("boom")
    def boom(ctx):
        raise RuntimeError("handler bug")
    router.text()(lambda ctx: None)
    router.default()(lambda ctx: None)
    bot = BotTester(router)
    before = runs("command:boom"), runs("text"), runs("default")
    with pytest.raises(RuntimeError):
        bot.command(1, "boom")
    bot.text(1, "hello")
    bot.command(1, "unknown")                      # no such command: the default registration
    assert (runs("command:boom"), runs("text"), runs("default")) == (before[0] + 1, before[1] + 1, before[2] + 1)
