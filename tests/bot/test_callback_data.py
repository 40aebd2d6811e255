"""Typed callback data: pack, unpack, routing by class, signing for one user."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from botrunner.bot.callback_data import PAYLOAD, CallbackData, Signer
from botrunner.bot.router import Router
from botrunner.bot.testing import BotTester


@dataclass
class Page(CallbackData, prefix="pts:h"):
    page: int = 0


@dataclass
class Confirm(CallbackData, prefix="tr"):
    choice: str
    token: str = ""
    final: bool = False


@dataclass
class Refresh(CallbackData, prefix="m:menu"):
    pass


def test_pack_and_unpack_round_trip_with_types_and_defaults():
    assert Page(3).pack() == "pts:h:3" and Page.unpack("pts:h:3") == Page(3)
    assert Confirm("ok", "t0k", True).pack() == "tr:ok:t0k:1"
    assert Confirm.unpack("tr:ok:t0k:1") == Confirm("ok", "t0k", True)
    assert Confirm.unpack("tr:no") == Confirm("no")                    # missing trailing fields: defaults
    assert Page.unpack("pts:h") == Page(0) and Page.unpack("pts:h:-2") == Page(-2)
    assert Refresh().pack() == "m:menu" and Refresh.unpack("m:menu") == Refresh()


@pytest.mark.parametrize("payload", ["pts:h:x", "pts:h: 1", "pts:h:1_0", "pts:hx:1", "lb:pts", None, "pts:h:" + "9" * 30])
def test_malformed_data_unpacks_to_none(payload):
    assert Page.unpack(payload) is None


def test_a_required_field_must_be_there_and_values_may_not_break_the_format():
    assert Confirm.unpack("tr") is None
    assert Confirm.unpack("tr:ok:a:2") is None                          # bool is 0 or 1
    with pytest.raises(ValueError, match="may not contain"):
        Confirm("ok", "a~b").pack()
    with pytest.raises(ValueError, match="too long"):
        Confirm("ok", "x" * 60).pack()
    with pytest.raises(ValueError, match="prefix"):
        type("NoPrefix", (CallbackData,), {})


def test_router_matches_the_class_and_the_handler_reads_it_from_the_verified_payload():
    router = Router()
    seen = []
    signer = Signer("123:token")

    def verify(ctx, call_next):
        payload = signer.verify(ctx.user_id, ctx.callback_data)
        if payload is not None:
            ctx.data[PAYLOAD] = payload
            call_next(ctx)
    router.middleware(verify)
    router.callback(Page)(lambda ctx: seen.append(Page.of(ctx)))
    router.callback(Refresh)(lambda ctx: seen.append(Refresh.of(ctx)))
    bot = BotTester(router)
    bot.press(7, Page(2).sign(signer, 7))
    bot.press(7, Refresh().sign(signer, 7))
    bot.press(8, Page(5).sign(signer, 7))                              # another user's button: refused
    bot.press(7, "pts:h:9~forged00")
    assert seen == [Page(2), Refresh()]


def test_signer_binds_data_to_a_user_and_a_key():
    signer = Signer("a")
    data = signer.sign(1, "m:menu")
    assert signer.verify(1, data) == "m:menu"
    assert signer.verify(2, data) is None and Signer("b").verify(1, data) is None
    assert signer.verify(1, "m:menu") is None and signer.verify(None, data) is None
