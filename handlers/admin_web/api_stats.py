"""GET /admin/api/stats (viewer): the dashboard's figures from the database, and the update
pipeline's queue from Redis (what /metrics reads: botrunner.metrics.cluster)."""
from __future__ import annotations

import time
from typing import Any

from botrunner.metrics import cluster
from handlers.admin_web.api import AdminRequest, route

DAY_S = 86400


def _figures(req: AdminRequest) -> dict[str, Any]:
    store = req.store
    counts = store.admin_views.user_counts()
    subs = store.submissions.count_by_status()
    return {"users": {"total": counts["total"], "today": store.users.count_registered_since(time.time() - DAY_S),
                      "verified": counts["verified"]},
            "referrals": counts["referred"], "points_issued": store.points.totals()["total_earned"],
            "pending_submissions": subs.get("pending", 0),
            "pending_withdrawals": store.points.count_withdrawals("pending"),
            "open_tickets": store.tickets.count_open()}


async def _queue(req: AdminRequest) -> dict[str, Any]:
    env = req.admin.env
    snap = await cluster.read(env.redis, env.keys, req.settings.lanes)
    return {"lag": round(snap.oldest_age_s, 3), "pending": snap.pending + snap.backlog,
            "dead_letters": snap.dead_letter_entries, "workers": snap.workers}


@route("GET", "/stats", role="viewer")
async def stats(req: AdminRequest) -> dict[str, Any]:
    return {**await req.call(_figures, req), "queue": await _queue(req)}
