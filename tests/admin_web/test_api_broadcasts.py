"""The admin web's broadcast routes over the real HTTP server, on SQLite and mongomock with the real Redis:
roles, CSRF, validation of the text and the segment, the preview count, the draft and its controls
(409 for a control its status does not allow), the audit rows, the history's keyset pages."""
from __future__ import annotations

import pytest

from storage.broadcast_records import Message, Segment
from tests.admin_web.conftest import ADMIN

API = "/admin/api/broadcasts"


def audience(site, count: int = 6) -> None:
    for uid in range(1, count + 1):
        site.user(uid, language_code="de" if uid % 2 else "en")


def create(client, **body):
    return client.post(API, json={"text": "Airdrop is live", "segment": {}, **body})


def test_roles_and_csrf(site):
    audience(site)
    assert site.anonymous().get(API).status_code == 401
    assert site.as_role("viewer").get(API).json() == {"ok": True, "items": [], "next": None}
    for role in ("viewer", "moderator"):
        refused = create(site.as_role(role))
        assert refused.status_code == 403 and "needs the admin role" in refused.json()["error"]
        assert site.as_role(role).post(f"{API}/preview", json={"segment": {}}).status_code == 403
    admin = site.as_role("admin")
    token = admin.headers.pop("X-CSRF-Token")
    assert create(admin).status_code == 403                              # a change without the CSRF token
    admin.headers["X-CSRF-Token"] = token
    assert create(admin).status_code == 200
    assert create(site.as_role("super_admin")).status_code == 200
    assert len(site.store.broadcasts.history()) == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"text": ""}, "text"),
    ({"text": "x" * 4097}, "text"),
    ({"text": 5}, "text"),
    ({"parse_mode": "bogus"}, "parse_mode"),
    ({"parse_mode": "HTML", "text": "<b>bold"}, "text"),                  # never closed
    ({"parse_mode": "HTML", "text": "<b><i>x</b></i>"}, "text"),          # crossed
    ({"parse_mode": "HTML", "text": "<script>x</script>"}, "text"),      # not Telegram's HTML
    ({"segment": "everyone"}, "segment"),
    ({"segment": {"verified": "yes"}}, "segment"),
    ({"segment": {"colour": "red"}}, "segment"),
    ({"segment": {"ids": [1, "2"]}}, "segment"),
    ({"segment": {"ids": [True]}}, "segment"),
    ({"segment": {"points_min": 50, "points_max": 10}}, "segment"),
    ({"segment": {"active_days": 0}}, "segment"),
    ({"segment": {"language": "<img>"}}, "segment"),
    ({"buttons": [[{"text": "Open", "url": "javascript:alert(1)"}]]}, "buttons"),
    ({"buttons": [{"text": "Open", "url": "https://example.org"}]}, "buttons"),       # a row must be a list
    ({"buttons": [[{"text": "", "url": "https://example.org"}]]}, "buttons"),
    ({"photo": "AgAC"}, "photo"),                                        # not a field of this route
])
def test_bad_drafts_are_refused_naming_the_field(site, body, field):
    answer = create(site.as_role("admin"), **body)
    assert answer.status_code == 400 and answer.json()["field"] == field, answer.text
    assert site.store.broadcasts.history() == [] and site.audit("broadcast.create") == []


def test_preview_count_then_a_draft_with_its_audit_row(site):
    audience(site)
    site.store.users.set_blocked_bot(3, True)                            # blocked users are never counted
    admin = site.as_role("admin")
    preview = admin.post(f"{API}/preview", json={"segment": {"language": "de"}})
    assert preview.json() == {"ok": True, "count": 2}                    # users 1 and 5 (3 blocked the bot)
    assert admin.post(f"{API}/preview", json={"segment": {"ids": [2, 4, 99]}}).json()["count"] == 2
    answer = create(admin, text="<b>Airdrop</b> is live", parse_mode="HTML", segment={"language": "de"},
                    buttons=[[{"text": "Open", "url": "https://example.org"}]])
    assert answer.status_code == 200, answer.text
    b = answer.json()["broadcast"]
    assert (b["status"], b["total"], b["sent"], b["created_by"]) == ("draft", 2, 0, ADMIN)
    assert (b["text"], b["parse_mode"], b["segment"]) == ("<b>Airdrop</b> is live", "HTML", {"language": "de"})
    stored = site.store.broadcasts.get(b["id"])
    assert stored.message.buttons == [[{"text": "Open", "url": "https://example.org"}]]
    (row,) = site.audit("broadcast.create")
    assert (row.admin_id, row.target, row.before, row.after["total"]) == (ADMIN, f"broadcast:{b['id']}", None, 2)


def test_controls_follow_the_status_and_are_audited(site):
    audience(site)
    admin = site.as_role("admin")
    broadcast_id = create(admin).json()["broadcast"]["id"]

    def control(action: str):
        return admin.post(f"{API}/{broadcast_id}/{action}", json={})
    for action in ("pause", "resume"):
        refused = control(action)
        assert refused.status_code == 409 and refused.json()["error"] == f"a draft broadcast cannot {action}"
    started = control("start").json()["broadcast"]
    assert started["status"] == "running" and started["started_at"] and started["total"] == 6
    assert control("start").status_code == 409                           # already running
    assert control("resume").status_code == 409
    assert control("pause").json()["broadcast"]["status"] == "paused"
    assert control("pause").status_code == 409
    assert control("resume").json()["broadcast"]["status"] == "running"
    assert control("cancel").json()["broadcast"]["status"] == "cancelled"
    for action in ("cancel", "resume", "start", "pause"):
        assert control(action).status_code == 409                        # cancelled is final
    assert site.as_role("viewer").get(f"{API}/{broadcast_id}").json()["broadcast"]["status"] == "cancelled"
    rows = sorted(site.audit(), key=lambda r: r.id)
    assert [r.action for r in rows] == ["broadcast.create", "broadcast.start", "broadcast.pause",
                                        "broadcast.resume", "broadcast.cancel"]
    assert [(r.before, r.after["status"]) for r in rows[1:3]] == [({"status": "draft"}, "running"),
                                                                  ({"status": "running"}, "paused")]
    assert admin.post(f"{API}/nope99/start", json={}).status_code == 404
    assert admin.post(f"{API}/..%2fx/start", json={}).status_code == 404
    assert site.as_role("viewer").get(f"{API}/0123456789ab").status_code == 404


def test_progress_shows_the_engines_counters(site):
    audience(site)
    admin = site.as_role("admin")
    broadcast_id = create(admin).json()["broadcast"]["id"]
    admin.post(f"{API}/{broadcast_id}/start", json={})
    ids = site.store.broadcasts.claim_page(broadcast_id, 4)               # as the owning worker does
    site.store.broadcasts.finish(broadcast_id, [(ids[0], "sent", ""), (ids[1], "blocked", ""),
                                                (ids[2], "failed", "Bad Request: x")])
    site.store.broadcasts.defer(broadcast_id, [(ids[3], 2e9, "still rate-limited")])
    b = site.as_role("viewer").get(f"{API}/{broadcast_id}").json()["broadcast"]
    assert {k: b[k] for k in ("status", "total", "sent", "blocked", "failed", "skipped", "retrying", "processed")} \
        == {"status": "running", "total": 6, "sent": 1, "blocked": 1, "failed": 1, "skipped": 0, "retrying": 1,
            "processed": 3}


def test_history_in_keyset_pages_newest_first(site):
    made = [site.store.broadcasts.create(Message(text=f"n{n}"), Segment(), created_by=ADMIN, at=1000.0 + n // 2)
            for n in range(5)]
    viewer = site.as_role("viewer")
    seen, after, pages = [], None, 0
    while True:
        page = viewer.get(API, params={"limit": 2, **({"after": after} if after else {})}).json()
        seen += [b["id"] for b in page["items"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert seen == [b.id for b in sorted(made, key=lambda b: (b.created_at, b.id), reverse=True)] and pages == 3
    assert viewer.get(API, params={"limit": 0}).json()["field"] == "limit"
    assert viewer.get(API, params={"after": "not-a-cursor"}).json()["field"] == "after"
