"""Plain HTTP against the emulator: every encoding, the envelope, status codes and exact error texts."""
from __future__ import annotations

import json

import httpx
import pytest

KEYBOARD = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}


def test_get_me_over_get_and_post(api, token):
    for response in (api.get("getMe"), api.post("getMe"), api.post("getme", json={})):
        assert response.status_code == 200
        body = response.json()
        assert body["ok"] is True
        assert body["result"]["id"] == int(token.split(":")[0])
        assert body["result"]["is_bot"] is True
        assert {"first_name", "username", "can_join_groups", "can_read_all_group_messages",
                "supports_inline_queries"} <= set(body["result"])


def test_method_names_are_case_insensitive(api, user):
    for name in ("sendMessage", "SENDMESSAGE", "sendmessage"):
        assert api.post(name, data={"chat_id": user, "text": name}).json()["result"]["text"] == name


def test_malformed_token_is_401(emulator):
    for path in ("/botnot-a-token/getMe", "/bot123/getMe", "/bot:abc/getMe", "/botabc:def/getMe"):
        response = httpx.get(emulator.url + path)
        assert response.status_code == 401
        assert response.json() == {"ok": False, "error_code": 401,
                                   "description": "Unauthorized: invalid token specified"}


def test_unknown_method_is_404(api):
    response = api.post("sendTelepathy")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


def test_unknown_path_is_404(emulator):
    response = httpx.get(emulator.url + "/nothing/here")
    assert response.status_code == 404
    assert response.json()["description"] == "Not Found"


@pytest.mark.parametrize("encoding", ["query", "json", "form", "multipart"])
def test_every_encoding_with_nested_fields(api, user, encoding):
    fields = {"chat_id": user, "text": "<b>hi</b>", "parse_mode": "HTML", "reply_markup": KEYBOARD}
    as_strings = {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in fields.items()}
    if encoding == "query":
        response = api.get("sendMessage", params=as_strings)
    elif encoding == "json":
        response = api.post("sendMessage", json=fields)
    elif encoding == "form":
        response = api.post("sendMessage", data=as_strings)
    else:
        response = api.post("sendMessage", data=as_strings, files={"unused": ("x.txt", b"x")})
    assert response.status_code == 200, response.text
    message = response.json()["result"]
    assert message["text"] == "hi"
    assert message["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert message["reply_markup"] == KEYBOARD
    assert message["chat"]["id"] == user
    assert message["from"]["is_bot"] is True


def test_query_string_and_body_are_merged(api, user):
    response = api.post("sendMessage", params={"chat_id": user}, data={"text": "merged"})
    assert response.json()["result"]["text"] == "merged"


def test_message_ids_increase_per_chat(api, control, token, user):
    control.inject_message(token, 6001, "other chat")
    ids = [api.post("sendMessage", json={"chat_id": user, "text": str(i)}).json()["result"]["message_id"]
           for i in range(3)]
    other = api.post("sendMessage", json={"chat_id": 6001, "text": "x"}).json()["result"]["message_id"]
    assert ids == [2, 3, 4]          # the user's own message was 1
    assert other == 2


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["ok"] is False
    assert response.status_code == body["error_code"]
    assert "parameters" not in body
    return body["error_code"], body["description"]


@pytest.mark.parametrize("fields, expected", [
    ({"text": "x"}, "Bad Request: chat_id is empty"),
    ({"chat_id": 999999, "text": "x"}, "Bad Request: chat not found"),
    ({"chat_id": "@nobody", "text": "x"}, "Bad Request: chat not found"),
    ({"chat_id": "USER"}, "Bad Request: message text is empty"),
    ({"chat_id": "USER", "text": ""}, "Bad Request: message text is empty"),
    ({"chat_id": "USER", "text": "<b></b>", "parse_mode": "HTML"}, "Bad Request: message text is empty"),
    ({"chat_id": "USER", "text": "x" * 4097}, "Bad Request: message is too long"),
    ({"chat_id": "USER", "text": "<i>x", "parse_mode": "HTML"},
     "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"i\""),
    ({"chat_id": "USER", "text": "x", "reply_markup": "{not json"},
     "Bad Request: can't parse reply keyboard markup JSON object"),
    ({"chat_id": "USER", "text": "x", "reply_markup": json.dumps(
        {"inline_keyboard": [[{"text": "a", "callback_data": "d" * 65}]]})}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"chat_id": "USER", "text": "x", "reply_to_message_id": 555}, "Bad Request: message to be replied not found"),
])
def test_send_message_errors(api, user, fields, expected):
    fields = {k: (user if v == "USER" else v) for k, v in fields.items()}
    assert error_of(api.post("sendMessage", data=fields)) == (400, expected)


def test_text_limit_is_counted_after_entity_parsing(api, user):
    text = "<b>" + "x" * 4096 + "</b>"
    assert api.post("sendMessage", data={"chat_id": user, "text": text, "parse_mode": "HTML"}).json()["ok"]


def test_blocked_user_gets_403(api, control, token, user):
    control.set_blocked(token, user)
    assert error_of(api.post("sendMessage", json={"chat_id": user, "text": "x"})) == (
        403, "Forbidden: bot was blocked by the user")
    control.set_blocked(token, user, blocked=False)
    assert api.post("sendMessage", json={"chat_id": user, "text": "x"}).json()["ok"]


def test_users_cannot_be_addressed_by_username(api, control, token):
    control.inject_message(token, 5003, "hi", username="alice")
    assert error_of(api.post("sendMessage", json={"chat_id": "@alice", "text": "x"})) == (
        400, "Bad Request: chat not found")


def test_send_to_channel_by_username(api, control, token):
    control.set_chat(token, -1001234, type="channel", title="News", username="newschan")
    message = api.post("sendMessage", json={"chat_id": "@newschan", "text": "post"}).json()["result"]
    assert message["chat"] == {"id": -1001234, "type": "channel", "title": "News", "username": "newschan"}


def test_edit_message_text(api, user):
    sent = api.post("sendMessage", json={"chat_id": user, "text": "v1", "reply_markup": KEYBOARD}).json()["result"]
    edited = api.post("editMessageText", json={"chat_id": user, "message_id": sent["message_id"], "text": "v2",
                                               "reply_markup": KEYBOARD}).json()["result"]
    assert (edited["text"], edited["message_id"], edited["reply_markup"]) == ("v2", sent["message_id"], KEYBOARD)
    assert "edit_date" in edited
    same = api.post("editMessageText", json={"chat_id": user, "message_id": sent["message_id"], "text": "v2",
                                             "reply_markup": KEYBOARD})
    assert error_of(same) == (400, "Bad Request: message is not modified: specified new message content and reply "
                                   "markup are exactly the same as a current content and reply markup of the message")
    # Omitting reply_markup removes the keyboard, so the same text is a modification.
    without = api.post("editMessageText", json={"chat_id": user, "message_id": sent["message_id"], "text": "v2"})
    assert "reply_markup" not in without.json()["result"]
    missing = api.post("editMessageText", json={"chat_id": user, "message_id": 9999, "text": "x"})
    assert error_of(missing) == (400, "Bad Request: message to edit not found")
    no_id = api.post("editMessageText", json={"chat_id": user, "text": "x"})
    assert error_of(no_id) == (400, "Bad Request: message identifier is not specified")
    users_own = api.post("editMessageText", json={"chat_id": user, "message_id": 1, "text": "x"})
    assert error_of(users_own) == (400, "Bad Request: message can't be edited")


def test_edit_reply_markup_and_delete(api, user):
    sent = api.post("sendMessage", json={"chat_id": user, "text": "m"}).json()["result"]
    target = {"chat_id": user, "message_id": sent["message_id"]}
    edited = api.post("editMessageReplyMarkup", json={**target, "reply_markup": KEYBOARD}).json()["result"]
    assert edited["reply_markup"] == KEYBOARD
    assert error_of(api.post("editMessageReplyMarkup", json={**target, "reply_markup": KEYBOARD}))[1].startswith(
        "Bad Request: message is not modified")
    assert api.post("deleteMessage", json=target).json() == {"ok": True, "result": True}
    assert error_of(api.post("deleteMessage", json=target)) == (400, "Bad Request: message to delete not found")
    assert error_of(api.post("editMessageText", json={**target, "text": "x"})) == (
        400, "Bad Request: message to edit not found")


def test_send_photo_by_upload_url_and_file_id(api, control, token, user):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big") + b"rest"
    uploaded = api.post("sendPhoto", data={"chat_id": user, "caption": "<b>c</b>", "parse_mode": "HTML"},
                        files={"photo": ("p.png", png, "image/png")}).json()["result"]
    sizes = uploaded["photo"]
    assert isinstance(sizes, list) and len(sizes) >= 2
    assert (sizes[-1]["width"], sizes[-1]["height"], sizes[-1]["file_size"]) == (640, 480, len(png))
    assert all({"file_id", "file_unique_id", "width", "height"} <= set(s) for s in sizes)
    assert (uploaded["caption"], uploaded["caption_entities"][0]["type"]) == ("c", "bold")
    by_id = api.post("sendPhoto", json={"chat_id": user, "photo": sizes[-1]["file_id"]}).json()["result"]
    assert by_id["photo"][-1]["file_id"] == sizes[-1]["file_id"]
    by_url = api.post("sendPhoto", json={"chat_id": user, "photo": "https://example.invalid/cat.jpg"}).json()
    assert by_url["ok"] and by_url["result"]["photo"]
    assert error_of(api.post("sendPhoto", json={"chat_id": user, "photo": "garbage"})) == (
        400, "Bad Request: wrong file identifier/HTTP URL specified")
    assert error_of(api.post("sendPhoto", json={"chat_id": user})) == (400, "Bad Request: there is no photo in "
                                                                            "the request")
    assert control.file(token, sizes[-1]["file_id"]) == png


def test_send_document_upload_is_readable_back(api, emulator, control, token, user):
    csv = b"id,points\n1,10\n"
    message = api.post("sendDocument", data={"chat_id": user, "caption": "export"},
                       files={"document": ("export.csv", csv, "text/csv")}).json()["result"]
    document = message["document"]
    assert (document["file_name"], document["mime_type"], document["file_size"]) == ("export.csv", "text/csv", 15)
    entry = control.sent(token, user)[-1]
    assert (entry["method"], entry["file_name"], entry["file_id"]) == ("sendDocument", "export.csv",
                                                                       document["file_id"])
    assert control.file(token, document["file_id"]) == csv
    file = api.post("getFile", json={"file_id": document["file_id"]}).json()["result"]
    assert httpx.get(f"{emulator.url}/file/bot{token}/{file['file_path']}").content == csv


def test_chat_action_and_commands(api, user):
    assert api.post("sendChatAction", json={"chat_id": user, "action": "typing"}).json()["result"] is True
    assert error_of(api.post("sendChatAction", json={"chat_id": user, "action": "dancing"})) == (
        400, "Bad Request: wrong parameter action in request")
    commands = [{"command": "start", "description": "Start"}, {"command": "help", "description": "Help"}]
    assert api.post("setMyCommands", data={"commands": json.dumps(commands)}).json()["result"] is True
    assert api.get("getMyCommands").json()["result"] == commands
    assert error_of(api.post("setMyCommands", json={"commands": [{"command": "Bad Cmd!", "description": "x"}]})
                    ) == (400, "Bad Request: BOT_COMMAND_INVALID")


def test_get_chat(api, user):
    chat = api.post("getChat", json={"chat_id": user}).json()["result"]
    assert (chat["id"], chat["type"]) == (user, "private")
    assert error_of(api.post("getChat", json={"chat_id": 1})) == (400, "Bad Request: chat not found")


NOT_UTF8 = (400, "Bad Request: strings must be encoded in UTF-8")


@pytest.mark.parametrize("method, body", [
    ("sendMessage", b'{"chat_id": USER, "text": "broken \\ud800 text"}'),
    ("sendMessage", b'{"chat_id": USER, "text": "x", "reply_markup": {"inline_keyboard": '
                    b'[[{"text": "\\udfff", "callback_data": "go"}]]}}'),
    ("sendMessage", b'{"chat_id": USER, "text": "x", "parse_mode": "\\uDBFF"}'),
    ("answerCallbackQuery", b'{"callback_query_id": "1", "text": "\\ud83d"}'),
    ("setMyCommands", b'{"commands": [{"command": "start", "description": "\\ude00"}]}'),
    ("sendMessage", b'{"chat_id": USER, "text": "raw \xff byte"}'),
])
def test_text_that_is_not_well_formed_unicode_is_400_for_every_parameter(api, user, method, body):
    """A lone surrogate escaped in a JSON body (or a byte that is not UTF-8) in any string parameter,
    nested ones too, is rejected as Telegram rejects it, not answered with a 500."""
    response = api.post(method, content=body.replace(b"USER", str(user).encode()),
                        headers={"Content-Type": "application/json"})
    assert error_of(response) == NOT_UTF8


@pytest.mark.parametrize("encoding", ["query", "form", "multipart"])
def test_a_form_value_that_is_not_utf8_is_400(api, user, encoding):
    if encoding == "query":
        response = api.get(f"sendMessage?chat_id={user}&text=%ED%A0%80")
    elif encoding == "form":
        response = api.post("sendMessage", content=f"chat_id={user}&text=%ED%A0%80".encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        response = api.post("sendMessage", data={"chat_id": str(user), "text": "x"},
                            files={"caption": (None, b"\xed\xa0\x80", "text/plain")})
    assert error_of(response) == NOT_UTF8


def test_the_query_string_keeps_the_first_of_a_repeated_name_and_decodes_plus_as_space(api, user):
    response = api.get(f"sendMessage?chat_id={user}&text=a+b%20c%F0%9F%98%80&text=second")
    assert response.status_code == 200 and response.json()["result"]["text"] == "a b c\U0001F600"


def test_escaped_surrogate_pairs_are_text(api, user):
    """What json.dumps writes by default (ensure_ascii): an emoji as a pair of escapes."""
    body = json.dumps({"chat_id": user, "text": "hi \U0001F600", "reply_markup": KEYBOARD}).encode()
    assert b"\\ud83d\\ude00" in body
    response = api.post("sendMessage", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json()["result"]["text"] == "hi \U0001F600"
