"""/broadcast and its controls, in process (the sending is tests/broadcast's, with real workers)."""
from __future__ import annotations

from tests.handlers.harness import ADMIN, button_data, joined, texts


def test_compose_preview_and_start(bot):
    for uid in (1, 2, 3):
        bot.join(uid, lang="ru" if uid < 3 else "en")
    out = bot.command(ADMIN, "broadcast", "lang=ru html <b>Airdrop</b> is live!\nbutton: Open | https://example.org")
    sent, preview = out[0], out[1]
    assert sent[0] == "sendMessage" and sent[1]["text"] == "<b>Airdrop</b> is live!"
    assert sent[1]["parse_mode"] == "HTML"
    assert sent[1]["reply_markup"] == {"inline_keyboard": [[{"text": "Open", "url": "https://example.org"}]]}
    (draft,) = bot.rt.store.broadcasts.history()
    assert draft.status == "draft" and draft.total == 2 and draft.created_by == ADMIN   # 1 and 2 speak ru
    assert f"#{draft.id} (draft) to 2 recipient(s)" in texts([preview])[0]
    out = bot.press(ADMIN, button_data([preview], f"bc:start:{draft.id}"))
    assert bot.rt.store.broadcasts.get(draft.id).status == "running"
    assert f"#{draft.id}: running" in joined(out)


def test_pause_resume_cancel_and_progress(bot):
    bot.join(1)
    bot.command(ADMIN, "broadcast", "hello")
    (draft,) = bot.rt.store.broadcasts.history()
    assert "cannot pause" in joined(bot.command(ADMIN, "bpause", draft.id))           # a draft is not running
    bot.rt.store.broadcasts.set_status(draft.id, "running")
    assert f"#{draft.id}: paused" in joined(bot.command(ADMIN, "bpause", draft.id))
    assert f"#{draft.id}: running" in joined(bot.command(ADMIN, "bresume", draft.id))
    assert "Sent: 0, blocked: 0" in joined(bot.command(ADMIN, "bprogress", draft.id))
    assert f"{draft.id} running 0/1" in joined(bot.command(ADMIN, "bprogress"))
    assert f"#{draft.id}: cancelled" in joined(bot.command(ADMIN, "bcancel", draft.id))
    assert "cannot resume" in joined(bot.command(ADMIN, "bresume", draft.id))
    assert "No such broadcast" in joined(bot.command(ADMIN, "bprogress", "nope"))


def test_compose_from_a_replied_photo_and_bad_options(bot):
    bot.join(1)
    replied = {"message_id": 77, "date": 0, "chat": {"id": ADMIN, "type": "private"},
               "photo": [{"file_id": "ph1", "file_unique_id": "ph1", "width": 9, "height": 9}], "caption": "a < b"}
    out = bot.message(ADMIN, {"text": "/broadcast verified", "reply_to_message": replied,
                              "entities": [{"type": "bot_command", "offset": 0, "length": 10}]})
    assert out[0][0] == "sendPhoto" and out[0][1]["photo"] == "ph1" and out[0][1]["caption"] == "a &lt; b"
    (draft,) = bot.rt.store.broadcasts.history()
    assert draft.segment.verified and draft.message.parse_mode == "HTML"
    assert "Cannot make that broadcast" in joined(bot.command(ADMIN, "broadcast", "points=9-1 hi"))
    assert "Cannot make that broadcast" in joined(bot.command(ADMIN, "broadcast", "verified"))   # no text


def test_not_for_users(bot):
    bot.join(1)
    bot.command(1, "broadcast", "spam")
    assert bot.rt.store.broadcasts.history() == []


def test_progress_counts_recipients_waiting_after_429s(bot):
    for uid in (1, 2):
        bot.join(uid)
    bot.command(ADMIN, "broadcast", "hello")
    (draft,) = bot.rt.store.broadcasts.history()
    repo = bot.rt.store.broadcasts
    repo.set_status(draft.id, "running")
    first, second = repo.claim_page(draft.id, 10)[:2]
    repo.finish(draft.id, [(first, "sent", "")])
    repo.defer(draft.id, [(second, 2e9, "still rate-limited after 10 tries")])
    assert "skipped (in doubt): 0, waiting after 429s: 1" in joined(bot.command(ADMIN, "bprogress", draft.id))
