"""The raw-dict accessors agree with PTB's parsed Update on every kind of update, and the shape check
rejects what PTB's parse rejects on the kinds it checks (so skipping the parse loses no validation)."""
from __future__ import annotations

import copy
import warnings

import pytest
import telegram

from botrunner.bot import raw_update
from botrunner.bot.context import Context
from botrunner.bot.events import make_event
from botrunner.bot.filters import MESSAGE_CONTENT, UPDATE_KINDS, content_type
from botrunner.errors import Unparseable

USER = {"id": 11, "is_bot": False, "first_name": "Ann", "username": "ann"}
OTHER = {"id": 12, "is_bot": False, "first_name": "Bob"}
BOT = {"id": 99, "is_bot": True, "first_name": "bot"}
PRIVATE = {"id": 11, "type": "private"}
GROUP = {"id": -100, "type": "supergroup", "title": "g"}
CHANNEL = {"id": -200, "type": "channel", "title": "c"}
MESSAGE = {"message_id": 5, "date": 1700000000, "chat": PRIVATE, "from": USER, "text": "/start ref7"}
GROUP_MESSAGE = {"message_id": 6, "date": 1700000000, "chat": GROUP, "from": OTHER, "text": "hi all"}
MEMBER_CHANGE = {"chat": GROUP, "from": USER, "date": 1700000000,
                 "old_chat_member": {"status": "member", "user": BOT},
                 "new_chat_member": {"status": "kicked", "user": BOT, "until_date": 0}}
BOOST = {"boost_id": "b", "add_date": 1700000000, "expiration_date": 1800000000,
         "source": {"source": "premium", "user": USER}}
VOTE = {"option_ids": [0], "option_persistent_ids": ["o1"]}

UPDATES = {
    "private text": {"message": MESSAGE},
    "group text": {"message": GROUP_MESSAGE},
    "sender chat, no from": {"message": {"message_id": 7, "date": 1, "chat": GROUP, "sender_chat": CHANNEL,
                                         "text": "anonymous admin"}},
    "photo": {"message": {**MESSAGE, "text": None, "caption": "c",
                          "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]}},
    "empty text": {"message": {**MESSAGE, "text": ""}},
    "edited": {"edited_message": {**MESSAGE, "text": "edited", "edit_date": 2}},
    "channel post": {"channel_post": {"message_id": 8, "date": 1, "chat": CHANNEL, "text": "news"}},
    "edited channel post": {"edited_channel_post": {"message_id": 8, "date": 1, "chat": CHANNEL, "text": "n2",
                                                    "edit_date": 3}},
    "business message": {"business_message": {**MESSAGE, "business_connection_id": "bc"}},
    "edited business message": {"edited_business_message": {**MESSAGE, "business_connection_id": "bc"}},
    "deleted business messages": {"deleted_business_messages": {"business_connection_id": "bc", "chat": PRIVATE,
                                                                "message_ids": [1, 2]}},
    "button": {"callback_query": {"id": "q1", "from": USER, "chat_instance": "ci", "data": "menu:open",
                                  "message": {**GROUP_MESSAGE, "from": BOT}}},
    "button, inaccessible message": {"callback_query": {"id": "q2", "from": USER, "chat_instance": "ci",
                                                        "data": "old", "message": {"message_id": 3, "date": 0,
                                                                                   "chat": PRIVATE}}},
    "inline button": {"callback_query": {"id": "q3", "from": OTHER, "chat_instance": "ci",
                                         "inline_message_id": "im", "data": "x"}},
    "button without data": {"callback_query": {"id": "q4", "from": USER, "chat_instance": "ci",
                                               "game_short_name": "g"}},
    "inline query": {"inline_query": {"id": "iq", "from": USER, "query": "q", "offset": ""}},
    "chosen inline result": {"chosen_inline_result": {"result_id": "r", "from": USER, "query": "q"}},
    "shipping query": {"shipping_query": {"id": "s", "from": USER, "invoice_payload": "p",
                                          "shipping_address": {"country_code": "DE", "state": "", "city": "B",
                                                               "street_line1": "a", "street_line2": "",
                                                               "post_code": "1"}}},
    "pre checkout query": {"pre_checkout_query": {"id": "pc", "from": USER, "currency": "XTR", "total_amount": 5,
                                                  "invoice_payload": "p"}},
    "poll": {"poll": {"id": "p", "question": "?", "options": [{"text": "a", "voter_count": 1, "persistent_id": "o1"}],
                      "total_voter_count": 1, "allows_revoting": False, "members_only": False,
                      "is_closed": False, "is_anonymous": True, "type": "regular",
                      "allows_multiple_answers": False}},
    "poll answer": {"poll_answer": {"poll_id": "p", "user": OTHER, **VOTE}},
    "poll answer by a chat": {"poll_answer": {"poll_id": "p", "voter_chat": CHANNEL, **VOTE}},
    "my chat member": {"my_chat_member": MEMBER_CHANGE},
    "chat member": {"chat_member": {**MEMBER_CHANGE, "from": OTHER}},
    "join request": {"chat_join_request": {"chat": GROUP, "from": OTHER, "user_chat_id": 12, "date": 1}},
    "chat boost": {"chat_boost": {"chat": CHANNEL, "boost": BOOST}},
    "removed chat boost": {"removed_chat_boost": {"chat": CHANNEL, "boost_id": "b", "remove_date": 1,
                                                  "source": {"source": "premium", "user": USER}}},
    "reaction": {"message_reaction": {"chat": GROUP, "message_id": 6, "user": USER, "date": 1, "old_reaction": [],
                                      "new_reaction": [{"type": "emoji", "emoji": "👍"}]}},
    "anonymous reaction": {"message_reaction": {"chat": GROUP, "message_id": 6, "actor_chat": CHANNEL, "date": 1,
                                                "old_reaction": [], "new_reaction": []}},
    "reaction count": {"message_reaction_count": {"chat": GROUP, "message_id": 6, "date": 1, "reactions": []}},
    "business connection": {"business_connection": {"id": "bc", "user": USER, "user_chat_id": 11, "date": 1,
                                                    "is_enabled": True}},
    "purchased paid media": {"purchased_paid_media": {"from": USER, "paid_media_payload": "x"}},
    "a future kind": {"some_future_update": {"x": 1}},
}


def parsed(raw):
    return telegram.Update.de_json(raw, None)


@pytest.fixture(params=sorted(UPDATES))
def update(request):
    return {"update_id": 41, **UPDATES[request.param]}


def test_every_sample_is_a_valid_update_the_check_accepts(update):
    assert parsed(update) is not None
    raw_update.check(update)                       # does not raise


def test_effective_chat_user_and_message_match_ptb(update):
    ptb = parsed(update)
    chat, user = raw_update.effective_chat(update), raw_update.effective_user(update)
    assert (chat and chat["id"]) == (ptb.effective_chat and ptb.effective_chat.id)
    assert (user and user["id"]) == (ptb.effective_user and ptb.effective_user.id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # PTB warns about an inaccessible callback message
        message = ptb.effective_message
    found = raw_update.effective_message(update)
    assert (found and found["message_id"]) == (message and message.message_id)


def test_context_reads_what_it_read_from_the_parsed_update(update):
    """chat_id, user_id, text, command, callback_data and content_type as the parsed Update gave them,
    and no parse to get them."""
    ptb = parsed(update)
    ctx = Context(update, bot_username="MyBot")
    message = ptb.message or ptb.edited_message
    text = message.text if message and message.text is not None else None
    query = ptb.callback_query
    if message is not None:
        expected_kind = next((kind for kind in MESSAGE_CONTENT if getattr(message, kind, None)), None)
    else:
        expected_kind = next((kind for kind in UPDATE_KINDS if getattr(ptb, kind, None) is not None), None)
    assert ctx.update_id == ptb.update_id == 41
    assert ctx.chat_id == (ptb.effective_chat.id if ptb.effective_chat else None)
    assert ctx.user_id == (ptb.effective_user.id if ptb.effective_user else None)
    assert ctx.text == text
    assert ctx.callback_data == (query.data if query is not None else None)
    assert content_type(ctx) == expected_kind
    assert ctx._update is None                       # none of that parsed the update
    assert ctx.update.to_dict() == ptb.to_dict()     # and reading it does


def test_a_bot_event_is_the_users_chat():
    ctx = Context(make_event(-3, "miniapp.verified", 77, {"ok": True}))
    assert ctx.chat_id == 77 and ctx.user_id == 77 and ctx.text is None and ctx.update_id == -3


def removals(update):
    """Copies of a checked update, each without one field the check looks at."""
    kind = next(key for key in update if key != "update_id")
    yield {key: value for key, value in update.items() if key != "update_id"}
    body = update[kind]
    for key in body:
        bare = copy.deepcopy(update)
        del bare[kind][key]
        yield bare
    for inner in ("chat", "from", "message"):
        for key in body.get(inner) or {}:
            bare = copy.deepcopy(update)
            del bare[kind][inner][key]
            yield bare


CHECKED = ["private text", "group text", "sender chat, no from", "edited", "channel post", "business message",
           "button", "button, inaccessible message", "inline button"]


@pytest.mark.parametrize("name", CHECKED)
def test_the_check_rejects_exactly_what_the_parse_rejects_when_a_field_is_missing(name):
    for bare in removals({"update_id": 41, **UPDATES[name]}):
        try:
            parsed(bare)
            ptb_ok = True
        except Exception:
            ptb_ok = False
        try:
            raw_update.check(bare)
            ours_ok = True
        except Unparseable:
            ours_ok = False
        assert ours_ok == ptb_ok, bare


@pytest.mark.parametrize("hostile", [
    "not an object", ["a", "list"], {"update_id": 1, "message": "a string"},
    {"update_id": 1, "message": {**MESSAGE, "chat": "x"}}, {"update_id": 1, "message": {**MESSAGE, "date": "1"}},
    {"update_id": 1, "message": {**MESSAGE, "from": {"id": "11", "is_bot": False, "first_name": "A"}}},
    {"update_id": 1, "callback_query": {"id": 5, "from": USER, "chat_instance": "c"}},
    {"update_id": 1, "callback_query": {"id": "5", "from": USER, "chat_instance": "c", "message": []}},
    {"update_id": 1, "my_chat_member": "x"}, {"update_id": 1, "message": MESSAGE, "edited_message": "x"},
])
def test_hostile_shapes_are_unparseable_and_the_accessors_never_raise(hostile):
    """The check may be stricter than PTB on types (an id given as a string); reading ctx.update
    raises Unparseable wherever PTB rejects the update."""
    with pytest.raises(Unparseable):
        raw_update.check(hostile)
    if isinstance(hostile, dict):
        ctx = Context(hostile)
        assert ctx.chat_id in (None, 11) and ctx.user_id in (None, 11) and ctx.text in (None, "/start ref7")
        assert ctx.command in (None, "start") and ctx.callback_data is None and ctx.update_id == 1
        try:
            parsed(hostile)
        except Exception:
            with pytest.raises(Unparseable):
                assert ctx.update


def test_a_null_kind_is_absent_as_for_ptb():
    update = {"update_id": 1, "message": None, "edited_message": MESSAGE}
    assert raw_update.check(update) is None and Context(update).text == "/start ref7"
    assert raw_update.message_of(update)["message_id"] == parsed(update).edited_message.message_id


def test_effective_user_and_chat_are_ptb_objects_without_the_parse(update):
    ptb = parsed(update)
    ctx = Context(update)
    user, chat = ctx.effective_user, ctx.effective_chat
    assert (user and user.to_dict()) == (ptb.effective_user and ptb.effective_user.to_dict())
    assert (chat and chat.to_dict()) == (ptb.effective_chat and ptb.effective_chat.to_dict())
    assert ctx.message_id == (ptb.effective_message.message_id if ptb.effective_message else None)
    assert ctx.edited == (ptb.edited_message is not None)
    assert ctx.callback_query_id == (ptb.callback_query.id if ptb.callback_query else None)
    assert ctx._update is None
    ctx.update                                        # noqa: B018 - once parsed, the parsed objects are given
    assert ctx.effective_user is ctx.update.effective_user


def test_answer_and_edit_queue_the_calls_the_parsed_query_gave():
    button = Context({"update_id": 1, **UPDATES["button"]})
    button.answer("ok")
    button.edit("new", reply_markup={"inline_keyboard": []})
    inline = Context({"update_id": 2, **UPDATES["inline button"]})
    inline.edit("x")
    assert button.outbox == [("answerCallbackQuery", {"callback_query_id": "q1", "text": "ok"}),
                             ("editMessageText", {"chat_id": -100, "message_id": 6, "text": "new",
                                                  "reply_markup": {"inline_keyboard": []}})]
    assert inline.outbox == [("editMessageText", {"inline_message_id": "im", "text": "x"})]
    for name in ("private text", "inline query"):
        ctx = Context({"update_id": 3, **UPDATES[name]})
        with pytest.raises(ValueError):
            ctx.edit("x")
    with pytest.raises(ValueError):
        Context({"update_id": 3, **UPDATES["private text"]}).answer()


def test_a_malformed_user_is_unparseable_when_read():
    ctx = Context({"update_id": 1, "message": {**MESSAGE, "from": {"id": 11}}})
    assert ctx.user_id == 11
    with pytest.raises(Unparseable):
        assert ctx.effective_user
