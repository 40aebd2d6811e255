"""Users (viewer): GET /admin/api/users?q=&limit&after (search by numeric id, @username, wallet,
referral code, else a first-name / username prefix; keyset-paginated, highest id first) and
GET /admin/api/users/{id} (profile, a ledger page and a referrals page: ?ledger_after=, ?referrals_after=)."""
from __future__ import annotations

from typing import Any

from handlers.admin_web import params, user_json
from handlers.admin_web.api import AdminRequest, ApiError, invalid, route
from storage.base import Store
from storage.records import User

MAX_QUERY = 100
DETAIL_PAGE = 20


def exact(store: Store, q: str) -> User | None:
    """The one user `q` names exactly (id, @username, wallet, referral code), if any."""
    if q.isdigit() and len(q) < 17:
        found = store.users.get(int(q))
        if found is not None:
            return found
    if q.startswith("@"):
        return store.users.find_by_username(q) if len(q) <= 33 else None
    return store.users.find_by_wallet(q) or store.users.find_by_referral_code(q)


def _search(store: Store, q: str, after: int | None, limit: int) -> tuple[list[User], int | None]:
    hit = exact(store, q) if q and after is None else None
    if hit is not None or q.startswith("@"):
        return ([hit] if hit else []), None
    rows = store.admin_views.users_page(after, limit + 1, q or None)
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit else None


@route("GET", "/users", role="viewer")
async def users(req: AdminRequest) -> dict[str, Any]:
    query = req.request.query
    q = query.get("q", "").strip()
    if len(q) > MAX_QUERY:
        raise invalid("q", f"at most {MAX_QUERY} characters")
    page, next_id = await req.call(_search, req.store, q, params.int_cursor(query), params.limit(query))
    return {"items": [user_json.summary(u) for u in page], "next": str(next_id) if next_id is not None else None}


def _detail(req: AdminRequest, uid: int) -> dict[str, Any]:
    store, query = req.store, req.request.query
    user = store.users.get(uid)
    if user is None:
        raise ApiError(404, f"no user {uid}")
    ledger, ledger_next = params.time_page(store.admin_views.ledger_page(uid, params.time_cursor(query, "ledger_after"),
                                                                   DETAIL_PAGE + 1), DETAIL_PAGE,
                                     lambda e: (e.created_at, e.id))
    before = params.time_cursor(query, "referrals_after")
    if before is not None and not str(before[1]).isdigit():
        raise invalid("referrals_after", "a cursor from the previous page's 'next'")
    referred = store.admin_views.referrals_page(uid, (before[0], int(before[1])) if before else None, DETAIL_PAGE + 1)
    referrals, referrals_next = params.time_page(referred, DETAIL_PAGE, lambda r: (r.created_at, r.referred_id))
    names = {r.referred_id: store.users.get(r.referred_id) for r in referrals}
    return {"user": user_json.detail(user),
            "ledger": {"items": [{"at": e.created_at, "kind": e.kind, "amount": e.amount, "balance": e.balance_after,
                                  "reference": e.reference} for e in ledger], "next": ledger_next},
            "referrals": {"items": [{"id": r.referred_id, "username": getattr(names[r.referred_id], "username", ""),
                                     "at": r.created_at} for r in referrals], "next": referrals_next}}


@route("GET", "/users/{id}", role="viewer")
async def user(req: AdminRequest) -> dict[str, Any]:
    return await req.call(_detail, req, params.telegram_id(req.param("id")))
