"""Chat membership: the statuses getChatMember reports, set by the control plane or by updates."""
from __future__ import annotations

from typing import Any

from botrunner.emulator.params import Params
from botrunner.emulator.state import BotState

STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")

_ADMIN_RIGHTS = ("can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
                 "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
                 "can_edit_stories", "can_delete_stories", "can_post_messages", "can_edit_messages",
                 "can_pin_messages", "can_manage_topics")
_RESTRICTED_RIGHTS = ("can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
                      "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_send_polls",
                      "can_send_other_messages", "can_add_web_page_previews", "can_change_info",
                      "can_invite_users", "can_pin_messages", "can_manage_topics", "can_edit_tag",
                      "can_react_to_messages")


def chat_for(state: BotState, chat_id: int, chat_type: str | None = None, title: str | None = None,
             username: str | None = None) -> dict[str, Any]:
    """The chat with this id, declared on first mention (type guessed from the id when not given)."""
    known = state.chats.get(chat_id)
    if known is not None and chat_type is None and title is None and username is None:
        return known
    if chat_type is None:
        chat_type = (known or {}).get("type") or ("private" if chat_id > 0 else
                                                  "channel" if str(chat_id).startswith("-100") else "group")
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = state.user_record(chat_id)["first_name"]
    else:
        chat["title"] = title or (known or {}).get("title") or f"{chat_type.capitalize()} {chat_id}"
    if username or (known or {}).get("username"):
        chat["username"] = username or (known or {})["username"]
    return state.remember_chat(chat)


def member_object(user: dict[str, Any], status: str, until_date: int = 0) -> dict[str, Any]:
    """A ChatMember of the given status with every field its type requires."""
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update({"can_be_edited": False, "is_anonymous": False}, **{r: True for r in _ADMIN_RIGHTS})
    elif status == "restricted":
        member.update({"is_member": True, "until_date": until_date}, **{r: False for r in _RESTRICTED_RIGHTS})
    elif status == "kicked":
        member["until_date"] = until_date
    return member


def status_of(state: BotState, chat: dict[str, Any], user_id: int) -> str:
    """Set status, else: member of their own private chat, the bot a member/admin, everyone else left."""
    entry = state.members.get((chat["id"], user_id))
    if entry is not None:
        return entry["status"]
    if chat["type"] == "private" and user_id == chat["id"]:
        return "member"
    if user_id == state.bot_id:
        return "administrator" if chat["type"] == "channel" else "member"
    return "left"


def set_status(state: BotState, chat_id: int, user_id: int, status: str, until_date: int = 0) -> str:
    """Record a membership; returns the previous status."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    previous = status_of(state, chat_for(state, chat_id), user_id)
    state.members[(chat_id, user_id)] = {"status": status, "until_date": until_date}
    return previous


async def get_chat_member(emulator: Any, state: BotState, params: Params) -> dict[str, Any]:
    chat = state.chat(params.get("chat_id"))
    user_id = params.integer("user_id", required=True)
    user = state.user if user_id == state.bot_id else state.user_record(user_id)
    until = state.members.get((chat["id"], user_id), {}).get("until_date", 0)
    return member_object(user, status_of(state, chat, user_id), until)
