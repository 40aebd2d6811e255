"""Defect 3: edited messages never run commands; keyed actions are keyed by chat and message.

Before the fix `ctx.text` read edited_message, so editing `/award 2 100` into 1000 ran /award again
(keyed by the new update id): 1,100 points."""
from __future__ import annotations

from tests.handlers.harness import ADMIN, joined


def message(bot, update_id: int, message_id: int, text: str, edited: bool = False) -> list:
    body = {"message_id": message_id, "date": 0, "chat": {"id": ADMIN, "type": "private"},
            "from": bot.user(ADMIN), "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}
    if edited:
        body["edit_date"] = 1
    return bot.run({"update_id": update_id, "edited_message" if edited else "message": body})


def test_editing_an_award_pays_nothing_more(bot):
    bot.join(2)
    assert "100" in joined(message(bot, 5001, 77, "/award 2 100"))
    assert message(bot, 5002, 77, "/award 2 1000", edited=True) == []
    assert bot.rt.store.points.balance(2) == 100


def test_the_same_message_under_another_update_id_awards_once(bot):
    bot.join(2)
    message(bot, 6001, 88, "/award 2 100")
    message(bot, 6002, 88, "/award 2 100")
    assert bot.rt.store.points.balance(2) == 100
    message(bot, 6003, 89, "/award 2 100")                      # a new message is a new award
    assert bot.rt.store.points.balance(2) == 200


def test_an_edited_answer_does_not_repeat_a_conversation_step(bot):
    bot.join(1)
    bot.join(2, username="bob")
    bot.rt.store.points.credit(1, 100, "award")
    bot.command(1, "transfer")
    bot.text(1, "@bob")
    update = {"update_id": 7001, "edited_message": {"message_id": 3, "date": 0, "edit_date": 1,
                                                    "chat": {"id": 1, "type": "private"}, "from": bot.user(1),
                                                    "text": "@bob"}}
    assert bot.run(update) == []
    assert "Send 50 points to" in joined(bot.text(1, "50"))          # still at the amount step
