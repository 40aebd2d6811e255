"""CSV downloads streamed a page at a time: each page is read in a thread, written out and dropped,
so memory stays flat whatever the table's size. Every cell goes through handlers.export.csv_safe
(text that looks like a formula is prefixed with '), the same rules as the bot's /export."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from handlers.admin_web.api import AdminRequest
from handlers.export import csv_safe

#: fetch(cursor) -> (rows, next cursor or None when this was the last page); the first call gets None
Fetch = Callable[[Any], tuple[list[Sequence[Any]], Any]]


def encode(rows: list[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([csv_safe(cell) for cell in row])
    return buffer.getvalue().encode("utf-8")


async def stream(req: AdminRequest, filename: str, header: Sequence[str], fetch: Fetch) -> web.StreamResponse:
    """Send `header`, then every page `fetch` returns, as text/csv named `filename`."""
    response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8",
                                           "Content-Disposition": f'attachment; filename="{filename}"'})
    await response.prepare(req.request)
    await response.write(encode([header]))
    cursor: Any = None
    while True:
        rows, cursor = await req.call(fetch, cursor)
        if rows:
            await response.write(encode(rows))
        if cursor is None:
            break
    await response.write_eof()
    return response
