"""GET /admin/api/export/users.csv: admin only, streamed in pages, every user once, the bot's columns,
formula-safe cells, and the download audited."""
from __future__ import annotations

import csv
import io

from handlers.export import FIELDS
from tests.admin_web.conftest import ADMIN


def test_every_user_streamed_with_formula_safe_cells(site):
    for uid in range(1, 1202):                                        # more than one page of 1000
        site.store.users.register(uid, f"user{uid}", first_name="Ann")
    site.store.users.register(5000, "evil", first_name="=HYPERLINK(\"http://x\",\"win\")")
    site.store.users.register(5001, "evil2", first_name="@SUM(A1:A9)", last_name="-2+3")
    assert site.as_role("moderator").get("/admin/api/export/users.csv").status_code == 403
    with site.as_role("admin").stream("GET", "/admin/api/export/users.csv") as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        assert "content-length" not in answer.headers                  # streamed (chunked)
        assert answer.headers["content-disposition"].startswith('attachment; filename="users-')
        body = b"".join(answer.iter_bytes()).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == list(FIELDS)
    ids = [int(r[0]) for r in rows[1:]]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 1203
    first_name = FIELDS.index("first_name")
    by_id = {int(r[0]): r for r in rows[1:]}
    assert by_id[5000][first_name] == "'=HYPERLINK(\"http://x\",\"win\")"
    assert by_id[5001][first_name] == "'@SUM(A1:A9)"
    [row] = site.audit("users.export")
    assert row.admin_id == ADMIN


def test_an_empty_export_is_just_the_header(site):
    body = site.as_role("admin").get("/admin/api/export/users.csv").text
    assert list(csv.reader(io.StringIO(body))) == [list(FIELDS)]
