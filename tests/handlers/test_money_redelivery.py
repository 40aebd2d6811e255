"""At-least-once delivery meets money: a confirm update redelivered (after a worker crash, or just
twice) moves the points exactly once, and a crash between the movement and the consumption of the
one-time token loses nothing: the redelivery finishes the action."""
from __future__ import annotations

import pytest

from handlers import callbacks
from tests.handlers.harness import button_data, joined

ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"


class Crash(Exception):
    """The worker dies here."""


def crash_once_at_consume(monkeypatch):
    """callbacks.consume raises the first time: the money moved, the token was not consumed."""
    real = callbacks.consume
    calls = []

    def consume(ctx, token):
        calls.append(token)
        if len(calls) == 1:
            raise Crash()
        real(ctx, token)
    monkeypatch.setattr(callbacks, "consume", consume)
    return calls


def token_of(data: str) -> str:
    return data.rpartition("~")[0].split(":")[2]


def transfer_offer(bot):
    bot.join(1)
    bot.join(2)
    bot.rt.store.points.credit(1, 300, "award")
    return button_data(bot.command(1, "transfer", "2 100"), "tr:ok:")


def test_transfer_confirm_delivered_twice_moves_once(bot):
    data = transfer_offer(bot)
    update = bot.callback_update(1, data)
    first, second = bot.run(update), bot.run(update)
    assert "Sent 100" in joined(first) and "Sent 100" in joined(second)      # the redelivery answers too
    assert bot.rt.store.points.balance(1) == 200 and bot.rt.store.points.balance(2) == 90
    assert len(bot.rt.store.points.transfers_for(1)) == 1
    assert "expired or was already used" in joined(bot.press(1, data))       # a later click: nothing
    assert bot.rt.store.points.balance(1) == 200


def test_transfer_crash_between_movement_and_token_consumption(bot, monkeypatch):
    data = transfer_offer(bot)
    calls = crash_once_at_consume(monkeypatch)
    update = bot.callback_update(1, data)
    with pytest.raises(Crash):
        bot.run(update)
    assert bot.rt.store.points.balance(1) == 200 and bot.rt.store.points.balance(2) == 90   # moved once
    assert bot.rt.redis.exists(callbacks.token_key(bot.rt, token_of(data)))                             # not consumed
    assert "expired or was already used" in joined(bot.press(1, data))     # a double click meanwhile: refused
    out = bot.run(update)                                                  # the runner redelivers
    assert "Sent 100" in joined(out) and any(p.get("chat_id") == 2 and "90" in p["text"] for _, p in out)
    assert bot.rt.store.points.balance(1) == 200 and bot.rt.store.points.balance(2) == 90
    assert len(bot.rt.store.points.transfers_for(1)) == 1 and len(calls) == 2
    assert not bot.rt.redis.exists(callbacks.token_key(bot.rt, token_of(data)))


def withdraw_offer(bot):
    bot.join(1)
    bot.command(1, "wallet", ADDRESS)
    bot.rt.store.points.credit(1, 150, "award")
    return button_data(bot.command(1, "withdraw"), "wd:ok:")


def test_withdraw_confirm_delivered_twice_debits_once(bot):
    data = withdraw_offer(bot)
    update = bot.callback_update(1, data)
    first, second = bot.run(update), bot.run(update)
    assert "pending" in joined(first) and "pending" in joined(second)
    assert bot.rt.store.points.balance(1) == 0
    assert len(bot.rt.store.points.withdrawals_for(1)) == 1


def test_withdraw_crash_between_debit_and_token_consumption(bot, monkeypatch):
    data = withdraw_offer(bot)
    crash_once_at_consume(monkeypatch)
    update = bot.callback_update(1, data)
    with pytest.raises(Crash):
        bot.run(update)
    assert bot.rt.store.points.balance(1) == 0
    out = bot.run(update)
    assert "pending" in joined(out)
    [withdrawal] = bot.rt.store.points.withdrawals_for(1)
    assert withdrawal.amount == 150 and bot.rt.store.points.balance(1) == 0
    assert "expired or was already used" in joined(bot.press(1, data))


def test_crash_before_the_movement_lets_the_redelivery_do_it(bot, monkeypatch):
    data = transfer_offer(bot)
    real = bot.rt.store.points.transfer
    monkeypatch.setattr(bot.rt.store.points, "transfer", lambda *a, **k: (_ for _ in ()).throw(Crash()))
    update = bot.callback_update(1, data)
    with pytest.raises(Crash):
        bot.run(update)
    monkeypatch.setattr(bot.rt.store.points, "transfer", real)
    assert bot.rt.store.points.balance(1) == 300
    assert "Sent 100" in joined(bot.run(update))
    assert bot.rt.store.points.balance(1) == 200 and bot.rt.store.points.balance(2) == 90


def test_cancel_cannot_drop_a_confirmation_in_flight(bot, monkeypatch):
    data = transfer_offer(bot)
    crash_once_at_consume(monkeypatch)
    update = bot.callback_update(1, data)
    with pytest.raises(Crash):
        bot.run(update)
    bot.click(1, f"tr:no:{token_of(data)}")
    assert "Sent 100" in joined(bot.run(update))
    assert len(bot.rt.store.points.transfers_for(1)) == 1
