"""The Bot API method table, plus the small methods: getMe, getChat, commands, answerCallbackQuery.

Every method is `async def method(emulator, state, params)` returning the result (or a ready
response); errors are raised as ApiError. Names are looked up lower-cased: the Bot API is
case-insensitive about them.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from botrunner.emulator import files, members, messages, polling, webhook
from botrunner.emulator.envelope import bad_request
from botrunner.emulator.params import Params
from botrunner.emulator.state import BotState

Method = Callable[[Any, BotState, Params], Awaitable[Any]]

QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


async def get_me(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    return {**state.user, "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}


async def get_chat(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    """getChat: the chat as a ChatFullInfo (with the fields that type requires)."""
    chat = state.chat(params.get("chat_id"))
    gifts = {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
             "premium_subscription": False, "gifts_from_channels": False}
    return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}


async def answer_callback_query(emulator: Any, state: BotState, params: Params) -> bool:
    """Only a known, unanswered query younger than callback_ttl can be answered, once."""
    query_id = params.text("callback_query_id") or ""
    query = state.callbacks.get(query_id)
    if query is None or query["answered"] or time.monotonic() - query["created"] > state.options.callback_ttl:
        raise bad_request(QUERY_INVALID)
    text = params.text("text") or ""
    if len(text) > 200:
        raise bad_request("message is too long")
    query["answered"] = True
    state.record_sent(query["chat_id"], "answerCallbackQuery", callback_query_id=query_id, text=text,
                      show_alert=params.boolean("show_alert"), url=params.text("url"))
    return True


def _commands_key(params: Params) -> str:
    scope = params.json_field("scope", "can't parse BotCommandScope JSON object") or {"type": "default"}
    return json.dumps(scope, sort_keys=True) + "|" + (params.text("language_code") or "")


async def set_my_commands(emulator: Any, state: BotState, params: Params) -> bool:
    commands = params.json_field("commands", "can't parse commands JSON object")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND.fullmatch(str(command.get("command", "")).lower()):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    state.commands[_commands_key(params)] = [{"command": str(c["command"]).lower(),
                                              "description": str(c["description"])} for c in commands]
    return True


async def get_my_commands(emulator: Any, state: BotState, params: Params) -> list[dict[str, str]]:
    return state.commands.get(_commands_key(params), [])


async def delete_my_commands(emulator: Any, state: BotState, params: Params) -> bool:
    state.commands.pop(_commands_key(params), None)
    return True


async def log_out(emulator: Any, state: BotState, params: Params) -> bool:
    return True


METHODS: dict[str, Method] = {name.lower(): method for name, method in {
    "getMe": get_me,
    "getUpdates": polling.get_updates,
    "sendMessage": messages.send_message,
    "sendPhoto": messages.send_photo,
    "sendDocument": messages.send_document,
    "sendChatAction": messages.send_chat_action,
    "editMessageText": messages.edit_message_text,
    "editMessageReplyMarkup": messages.edit_message_reply_markup,
    "deleteMessage": messages.delete_message,
    "answerCallbackQuery": answer_callback_query,
    "getChat": get_chat,
    "getChatMember": members.get_chat_member,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "getFile": files.get_file,
    "setWebhook": webhook.set_webhook,
    "deleteWebhook": webhook.delete_webhook,
    "getWebhookInfo": webhook.get_webhook_info,
    "logOut": log_out,
    "close": log_out,
}.items()}
