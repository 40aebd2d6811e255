"""Filters: what content_type names, and the content / chat type / command filters."""
from __future__ import annotations

from botrunner.bot.context import Context
from botrunner.bot.filters import chat_type, content, content_type, is_command


def contexts() -> dict[str, Context]:
    user = {"id": 1, "is_bot": False, "first_name": "A"}
    chat = {"id": 1, "type": "private"}
    msg = {"message_id": 1, "date": 0, "chat": chat, "from": user}
    me = {"id": 2, "is_bot": True, "first_name": "bot"}
    updates = {
        "text": {"message": {**msg, "text": "hi"}},
        "photo": {"message": {**msg, "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}],
                              "caption": "a caption is not text"}},
        "document": {"message": {**msg, "document": {"file_id": "d", "file_unique_id": "d"}}},
        "edited text": {"edited_message": {**msg, "text": "edited", "edit_date": 1}},
        "callback_query": {"callback_query": {"id": "1", "from": user, "chat_instance": "1", "data": "x"}},
        "my_chat_member": {"my_chat_member": {"chat": chat, "from": user, "date": 0,
                                              "old_chat_member": {"status": "member", "user": me},
                                              "new_chat_member": {"status": "kicked", "user": me, "until_date": 0}}},
        "group text": {"message": {**msg, "chat": {"id": -5, "type": "group", "title": "g"}, "text": "/stats"}},
    }
    return {name: Context({"update_id": 1, **raw}) for name, raw in updates.items()}


def test_content_type_names_the_content_or_the_update_kind():
    found = {name: content_type(ctx) for name, ctx in contexts().items()}
    assert found == {"text": "text", "photo": "photo", "document": "document", "edited text": "text",
                     "callback_query": "callback_query", "my_chat_member": "my_chat_member", "group text": "text"}


def test_content_chat_type_and_command_filters():
    ctx = contexts()
    photos_or_text = content("photo", "text")
    assert photos_or_text(ctx["photo"]) and photos_or_text(ctx["text"]) and not photos_or_text(ctx["document"])
    groups = chat_type("group", "supergroup")
    assert groups(ctx["group text"]) and not groups(ctx["text"]) and not groups(ctx["callback_query"])
    assert is_command(ctx["group text"]) and not is_command(ctx["text"]) and not is_command(ctx["photo"])
