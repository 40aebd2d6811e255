"""Telegram update dicts for tests: a private message and a callback query, as the Bot API sends them."""
from __future__ import annotations


def message(update_id: int, chat_id: int, text: str, user_id: int | None = None) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": text, "chat": {"id": chat_id, "type": "private"},
        "from": {"id": user_id or chat_id, "is_bot": False, "first_name": "Ann"}}}


def callback(update_id: int, chat_id: int, data: str) -> dict:
    return {"update_id": update_id, "callback_query": {
        "id": "cb1", "data": data, "chat_instance": "x", "from": {"id": 7, "is_bot": False, "first_name": "A"},
        "message": {"message_id": 3, "date": 0, "chat": {"id": chat_id, "type": "private"}}}}
