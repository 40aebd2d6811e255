"""GET /admin/api/export/users.csv [admin]: every user as CSV, streamed a page at a time in id order
(never built in memory), with the columns and formula-safe cells of the bot's /export
(handlers.export). A download of everyone's data is audited ("users.export")."""
from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from handlers import export
from handlers.admin_web import csv_stream
from handlers.admin_web.api import AdminRequest, route
from storage.records import User

PAGE = 1000


@route("GET", "/export/users.csv", role="admin")
async def users_csv(req: AdminRequest) -> web.StreamResponse:
    await req.call(req.audited, "users.export", "users", None, {"format": "csv"})

    def fetch(users: Iterator[User] | None) -> tuple[list[Any], Iterator[User] | None]:
        users = users if users is not None else req.store.users.iter_all(PAGE)
        rows = [export.row(user) for user in itertools.islice(users, PAGE)]
        return rows, users if len(rows) == PAGE else None
    stamp = time.strftime("%Y%m%d-%H%M", time.gmtime())
    return await csv_stream.stream(req, f"users-{stamp}.csv", export.FIELDS, fetch)
