"""Router v2: nested routers, duplicate registrations, filters, middlewares, error and worker hooks."""
from __future__ import annotations

import pytest

from botrunner.bot.context import Context, Services
from botrunner.bot.filters import chat_type, content, is_command
from botrunner.bot.router import DuplicateRoute, Router
from botrunner.bot.testing import BotTester


def replying(text: str):
    return lambda ctx: ctx.reply(text)


def test_included_routers_resolve_from_the_root_with_the_longest_prefix_anywhere():
    root, shop, admin = Router("root"), Router("shop"), Router("admin")
    shop.command("buy")(replying("buying"))
    shop.callback("item:")(replying("item"))
    admin.callback("item:admin:")(replying("admin item"))
    root.include_router(shop)
    shop.include_router(admin)                       # grandchildren count too
    bot = BotTester(root)
    assert bot.texts(bot.command(1, "buy")) == ["buying"]
    assert bot.texts(bot.press(1, "item:7")) == ["item"]
    assert bot.texts(bot.press(1, "item:admin:7")) == ["admin item"]
    assert [r.name for r in root.walk()] == ["root", "shop", "admin"]


def test_a_command_or_prefix_registered_twice_fails_at_import_time():
    root, child = Router("root"), Router("child")
    root.command("start")(replying("a"))
    with pytest.raises(DuplicateRoute, match="command 'start'"):
        root.command("START")(replying("b"))
    child.command("start")(replying("c"))
    with pytest.raises(DuplicateRoute, match="command 'start'"):
        root.include_router(child)                   # a clash between trees is found when joining them
    other = Router("other")
    root.include_router(other)
    root.callback("m:")(replying("m"))
    with pytest.raises(DuplicateRoute, match="callback prefix 'm:'"):
        other.callback("m:")(replying("again"))      # registering into a child checks the whole tree
    other.state("ask")(replying("ask"))
    with pytest.raises(DuplicateRoute, match="state 'ask'"):
        root.state("ask")(replying("ask again"))
    root.state("ask", content("photo"))(replying("a photo"))   # another content type is another handler


def test_a_router_joins_one_tree_once():
    root, child = Router(), Router()
    root.include_router(child)
    with pytest.raises(ValueError, match="already part"):
        Router().include_router(child)
    with pytest.raises(ValueError, match="already part"):
        child.include_router(root)


def test_a_photo_in_a_conversation_state_reaches_that_state_only_when_its_filters_accept_it():
    router = Router()
    router.command("proof")(lambda ctx: ctx.set_state("proof"))
    router.state("proof", content("text", "photo"))(lambda ctx: ctx.reply(f"proof: {ctx.update.message.photo and 'photo'}"))
    router.command("wallet")(lambda ctx: ctx.set_state("wallet"))
    router.state("wallet")(lambda ctx: ctx.reply("address"))                  # default: text only
    router.update(content("photo"))(replying("a photo outside any step"))
    bot = BotTester(router)
    bot.command(1, "proof")
    assert bot.texts(bot.photo(1)) == ["proof: photo"]
    bot.command(2, "wallet")
    assert bot.texts(bot.photo(2)) == ["a photo outside any step"]
    assert bot.texts(bot.text(2, "0xabc")) == ["address"]


def test_filters_on_registrations():
    router = Router()
    router.command("where", filters=(chat_type("group", "supergroup"),))(replying("in a group"))
    router.update(content("my_chat_member"))(replying("membership"))
    router.update(content("document"))(replying("a document"))
    router.update(is_command)(replying("unknown command"))
    bot = BotTester(router)
    assert bot.texts(bot.command(1, "where", chat_type="group", chat_id=-5)) == ["in a group"]
    assert bot.texts(bot.command(1, "where")) == ["unknown command"]          # private: the filter refuses
    assert bot.texts(bot.document(1)) == ["a document"]
    assert bot.run(bot.callback_update(1, "x")) == []                       # nothing matches: acknowledged
    out = bot.member_update(1, "kicked")
    assert [p["text"] for _, p in out] == ["membership"]
    with pytest.raises(ValueError, match="unknown content type"):
        content("photos")


def test_a_command_for_another_bot_goes_to_the_fallbacks_not_to_the_state():
    router = Router()
    router.command("go")(lambda ctx: ctx.set_state("s"))
    router.state("s")(replying("state"))
    router.default()(replying("fallback"))
    bot = BotTester(router, bot_username="mine")
    bot.command(1, "go")
    assert bot.texts(bot.text(1, "/go@someoneelse")) == ["fallback"]
    assert bot.texts(bot.text(1, "/unknown")) == ["state"]     # as before: an unknown command of ours is text


def test_middlewares_run_root_first_see_unmatched_updates_and_may_stop_them():
    seen: list[str] = []
    root, child = Router("root"), Router("child")

    def outer(ctx: Context, call_next) -> None:
        seen.append(f"outer {ctx.matched} {ctx.flags}")
        if ctx.text == "/blocked":
            return
        call_next(ctx)
        seen.append("outer after")

    def inner(ctx: Context, call_next) -> None:
        seen.append("inner")
        ctx.data["user"] = "alice"
        call_next(ctx)

    root.middleware(outer)
    child.middleware(inner)
    child.command("hello", flags={"open": True})(lambda ctx: ctx.reply(f"hello {ctx.data['user']}"))
    child.command("blocked")(replying("never"))
    root.include_router(child)
    bot = BotTester(root)
    assert bot.texts(bot.command(1, "hello")) == ["hello alice"]
    assert seen == ["outer True {'open': True}", "inner", "outer after"]
    seen.clear()
    assert bot.command(1, "blocked") == [] and seen == ["outer True {}"]
    seen.clear()
    bot.text(1, "no handler for this")
    assert seen == ["outer False {}", "outer after"]                 # the child's middleware is not on the path


def test_error_hooks_see_the_exception_which_still_propagates():
    caught: list[tuple[str, str]] = []
    root, child = Router(), Router()
    root.on_error(lambda ctx, exc: caught.append(("root", repr(exc))))
    child.on_error(lambda ctx, exc: caught.append(("child", repr(exc))))
    child.on_error(lambda ctx, exc: 1 / 0)                            # a failing hook is logged, not raised

    def boom(ctx: Context) -> None:
        raise RuntimeError("boom")
    child.command("boom")(boom)
    root.include_router(child)
    with pytest.raises(RuntimeError, match="boom"):
        BotTester(root).command(1, "boom")
    assert caught == [("child", "RuntimeError('boom')"), ("root", "RuntimeError('boom')")]


def test_worker_hooks_of_the_whole_tree():
    calls: list[str] = []
    root, child = Router("root"), Router("child")
    root.on_worker_start(lambda services: calls.append("start root"))
    child.on_worker_start(lambda services: calls.append("start child"))
    root.on_worker_stop(lambda services: calls.append("stop root"))
    child.on_worker_stop(lambda services: calls.append(1 / 0))        # logged; the other hooks still run
    child.on_worker_stop(lambda services: services.provided.pop("db") and calls.append("closed db"))
    root.include_router(child)
    services = Services(db="open")
    root.worker_started(services)
    root.worker_stopped(services)
    assert calls == ["start root", "start child", "closed db", "stop root"]
    assert len(root.all_startup_hooks()) == 2
