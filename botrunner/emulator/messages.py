"""Methods that put messages into chats: send, edit, delete, chat actions.

Each validates like the real server (texts and limits after entity parsing, reply markup,
blocked users), counts against flood limits, stores the Message and records it in the chat's
sent log for the control plane.
"""
from __future__ import annotations

import time
from typing import Any

from botrunner.emulator import markup
from botrunner.emulator.envelope import bad_request
from botrunner.emulator.files import accept_file, document_object, photo_sizes
from botrunner.emulator.flood import check_flood
from botrunner.emulator.params import Params
from botrunner.emulator.state import BotState

MAX_TEXT = 4096
MAX_CAPTION = 1024
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message")
CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                          "upload_document", "choose_sticker", "find_location", "record_video_note",
                          "upload_video_note"})
_BUTTON_ACTIONS = ("callback_data", "url", "web_app", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                   "callback_game", "pay")


def _text(params: Params, field: str, entities_field: str) -> tuple[str | None, list]:
    raw = params.text(field)
    if raw is None:
        return None, []
    text, entities = markup.parse(raw, params.text("parse_mode"))
    if not entities and entities_field in params:
        entities = params.json_field(entities_field, f"can't parse {entities_field} JSON object") or []
    return text, entities


def message_text(params: Params) -> tuple[str, list]:
    """The text of sendMessage / editMessageText after entity parsing, length-checked."""
    text, entities = _text(params, "text", "entities")
    if not text or not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    return text, entities


def inline_markup(params: Params) -> dict[str, Any] | None:
    """reply_markup, validated; only an inline keyboard is echoed in the returned Message."""
    value = params.json_field("reply_markup", "can't parse reply keyboard markup JSON object")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    keyboard = value.get("inline_keyboard")
    if keyboard is None:
        return None
    if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
        raise bad_request("can't parse inline keyboard: field \"inline_keyboard\" must be an Array of Arrays")
    for button in (b for row in keyboard for b in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request("can't parse inline keyboard button: Field \"text\" must be of type String")
        if not any(action in button for action in _BUTTON_ACTIONS):
            raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    return {"inline_keyboard": keyboard}


def _reply_target(state: BotState, chat: dict[str, Any], params: Params) -> dict[str, Any] | None:
    reply = params.json_field("reply_parameters", "can't parse reply parameters JSON object")
    message_id = reply.get("message_id") if isinstance(reply, dict) else params.integer("reply_to_message_id")
    if message_id is None:
        return None
    target = state.find_message(chat["id"], int(message_id))
    allow_missing = (reply or {}).get("allow_sending_without_reply") or params.boolean("allow_sending_without_reply")
    if target is None and not allow_missing:
        raise bad_request("message to be replied not found")
    return target


def _send(emulator: Any, state: BotState, chat: dict[str, Any], params: Params, method: str,
          content: dict[str, Any], **log: Any) -> dict[str, Any]:
    """The shared tail of every send: reply target, markup, 403s, flood, store, log."""
    reply_to = _reply_target(state, chat, params)
    keyboard = inline_markup(params)
    state.check_can_write(chat)
    check_flood(emulator.flood, state.buckets, chat, state.last_inject.get(chat["id"]))
    message = {"message_id": state.new_message_id(chat["id"]), "from": state.user, "chat": chat,
               "date": int(time.time()), **content}
    if reply_to is not None:
        message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
    if keyboard is not None:
        message["reply_markup"] = keyboard
    state.store_message(message)
    state.record_sent(chat["id"], method, message_id=message["message_id"],
                      text=message.get("text", message.get("caption")), message=message, **log)
    return message


async def send_message(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    chat = state.chat(params.get("chat_id"))
    text, entities = message_text(params)
    content: dict[str, Any] = {"text": text}
    if entities:
        content["entities"] = entities
    return _send(emulator, state, chat, params, "sendMessage", content)


def _caption(params: Params) -> dict[str, Any]:
    caption, entities = _text(params, "caption", "caption_entities")
    if not caption:
        return {}
    if len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return {"caption": caption, **({"caption_entities": entities} if entities else {})}


async def send_photo(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    chat = state.chat(params.get("chat_id"))
    record = accept_file(state, params, "photo", "photo")
    content = {"photo": photo_sizes(state, record), **_caption(params)}
    return _send(emulator, state, chat, params, "sendPhoto", content, file_id=record["file_id"])


async def send_document(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    chat = state.chat(params.get("chat_id"))
    record = accept_file(state, params, "document", "document")
    content = {"document": document_object(record), **_caption(params)}
    return _send(emulator, state, chat, params, "sendDocument", content, file_id=record["file_id"],
                 file_name=record["file_name"])


def _target(state: BotState, params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bot message an edit refers to (inline messages are not emulated: "not found")."""
    if params.text("inline_message_id"):
        raise bad_request("message to edit not found")
    chat_id, message_id = params.get("chat_id"), params.integer("message_id")
    if chat_id in (None, "") or message_id is None:
        raise bad_request("message identifier is not specified")
    chat = state.chat(chat_id)
    message = state.find_message(chat["id"], message_id)
    if message is None:
        raise bad_request("message to edit not found")
    if message["from"]["id"] != state.bot_id:
        raise bad_request("message can't be edited")
    return chat, message


def _store_edit(state: BotState, method: str, message: dict[str, Any]) -> dict[str, Any]:
    message["edit_date"] = int(time.time())
    state.store_message(message)
    state.record_sent(message["chat"]["id"], method, message_id=message["message_id"], text=message.get("text"),
                      message=message)
    return message


async def edit_message_text(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    chat, old = _target(state, params)
    text, entities = message_text(params)
    keyboard = inline_markup(params)
    if "text" not in old:
        raise bad_request("there is no text in the message to edit")
    if text == old["text"] and entities == old.get("entities", []) and keyboard == old.get("reply_markup"):
        raise bad_request(NOT_MODIFIED)
    message = {k: v for k, v in old.items() if k not in ("entities", "reply_markup")}
    message["text"] = text
    if entities:
        message["entities"] = entities
    if keyboard is not None:
        message["reply_markup"] = keyboard
    return _store_edit(state, "editMessageText", message)


async def edit_message_reply_markup(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    chat, old = _target(state, params)
    keyboard = inline_markup(params)
    if keyboard == old.get("reply_markup"):
        raise bad_request(NOT_MODIFIED)
    message = {k: v for k, v in old.items() if k != "reply_markup"}
    if keyboard is not None:
        message["reply_markup"] = keyboard
    return _store_edit(state, "editMessageReplyMarkup", message)


async def delete_message(emulator: Any, state: BotState, params: Params) -> bool:
    chat = state.chat(params.get("chat_id"))
    message_id = params.integer("message_id", required=True)
    if state.messages.get(chat["id"], {}).pop(message_id, None) is None:
        raise bad_request("message to delete not found")
    state.record_sent(chat["id"], "deleteMessage", message_id=message_id)
    return True


async def send_chat_action(emulator: Any, state: BotState, params: Params) -> bool:
    chat = state.chat(params.get("chat_id"))
    action = params.text("action") or ""
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    state.check_can_write(chat)
    state.record_sent(chat["id"], "sendChatAction", action=action)
    return True
