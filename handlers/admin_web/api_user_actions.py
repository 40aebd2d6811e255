"""Actions on one user, each audited (target "user:<id>") and answering the changed user:
POST /admin/api/users/{id}/points      [moderator] {"amount": +-int, "reason"}: through the ledger; the
                                        Idempotency-Key header (or a fresh one) keys the ledger row, so a
                                        retried request moves nothing twice (a replay answers "replayed")
POST /admin/api/users/{id}/message     [moderator] {"text"}: sent through the bot (a lane event)
POST /admin/api/users/{id}/ban         [moderator] {"reason", "duration_s": int|null, "notify": bool}
POST /admin/api/users/{id}/unban       [moderator] {"notify": bool}
POST /admin/api/users/{id}/reset       [admin] {"confirm": true}: the balance to 0 (one ledger row)
POST /admin/api/users/{id}/clear-device [moderator] {}: as /cleardevice
The bot's own rules hold: admins cannot be banned; a debit never overdraws (409).
"""
from __future__ import annotations

import secrets
import time
from typing import Any

from handlers import ban_ends, limits
from handlers.admin_web import params, user_json
from handlers.admin_web.api import AdminRequest, ApiError, invalid, route
from handlers.admin_web.roles import role_of
from storage.records import User

MAX_POINTS = 10**9
MAX_BAN_S = 10 * 365 * 86400
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _user(req: AdminRequest, uid: int) -> User:
    user = req.store.users.get(uid)
    if user is None:
        raise ApiError(404, f"no user {uid}")
    return user


def _text(req: AdminRequest, user: User, key: str, **values: Any) -> str:
    texts = req.admin.rt.texts
    return texts.get(texts.pick(user.language_code), key, **values)


def _uid(req: AdminRequest) -> int:
    return params.telegram_id(req.param("id"))


def _idempotency_key(req: AdminRequest) -> str:
    given = req.request.headers.get(IDEMPOTENCY_HEADER, "")
    if len(given) > 64 or not given.replace("-", "").replace("_", "").isalnum() and given:
        raise invalid(IDEMPOTENCY_HEADER, "up to 64 letters, digits, - and _")
    return f"admin:{req.admin_id}:{given or secrets.token_hex(8)}"


@route("POST", "/users/{id}/points", role="moderator")
async def points(req: AdminRequest) -> dict[str, Any]:
    uid, body = _uid(req), await req.body()
    amount = params.whole(body, "amount", -MAX_POINTS, MAX_POINTS, nonzero=True)
    reason = params.text(body, "reason", 200)
    key = _idempotency_key(req)
    marker = req.admin.rt.key("admin-web", "points", key)

    def change() -> dict[str, Any]:
        before = _user(req, uid)
        if not req.admin.rt.redis.set(marker, 1, nx=True, ex=86400):
            return {"user": user_json.detail(before), "replayed": True}
        reference = f"admin {req.admin_id}: {reason}"
        moved = (req.store.points.credit(uid, amount, "award", reference, key=key) if amount > 0
                 else req.store.points.debit_if_enough(uid, -amount, "admin_debit", reference, key=key))
        if moved is None:
            req.admin.rt.redis.delete(marker)
            raise ApiError(409, f"the balance ({before.points}) does not cover {-amount}")
        after = _user(req, uid)
        req.audited("user.points", f"user:{uid}", {"points": before.points},
                    {"points": after.points, "amount": amount, "reason": reason})
        return {"user": user_json.detail(after), "replayed": False}
    return await req.call(change)


@route("POST", "/users/{id}/message", role="moderator")
async def message(req: AdminRequest) -> dict[str, Any]:
    uid, body = _uid(req), await req.body()
    text = params.text(body, "text", 4096)
    await req.call(_user, req, uid)
    event = await req.admin.notify(uid, text)
    await req.call(req.audited, "user.message", f"user:{uid}", None, {"text": text, "event": event})
    return {"queued": True}


def _shown(until: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until)) if until else "-"


@route("POST", "/users/{id}/ban", role="moderator")
async def ban(req: AdminRequest) -> dict[str, Any]:
    uid, body = _uid(req), await req.body()
    reason = params.text(body, "reason", 200)
    duration = body.get("duration_s")
    if duration is not None:
        duration = params.whole(body, "duration_s", 60, MAX_BAN_S)
    notify = params.flag(body, "notify", True)

    def change() -> tuple[User, str | None]:
        before = _user(req, uid)
        if role_of(req.settings, req.store.admin_roles, uid) is not None:
            raise ApiError(409, "admins cannot be banned (take the role away first)")
        until = time.time() + duration if duration else None
        req.store.users.ban(uid, reason, until)
        ban_ends.schedule_end(req.admin.rt, uid, until)
        after = _user(req, uid)
        req.audited("user.ban", f"user:{uid}", _ban_state(before), _ban_state(after))
        return after, _text(req, after, "banned", reason=reason, until=_shown(until)) if notify else None
    user, notice = await req.call(change)
    if notice:
        await req.admin.notify(uid, notice)
    return {"user": user_json.detail(user)}


def _ban_state(user: User) -> dict[str, Any]:
    return {"banned": user.is_banned(), "reason": user.ban_reason, "until": user.banned_until}


@route("POST", "/users/{id}/unban", role="moderator")
async def unban(req: AdminRequest) -> dict[str, Any]:
    uid, body = _uid(req), await req.body()
    notify = params.flag(body, "notify", True)

    def change() -> tuple[User, str | None]:
        before = _user(req, uid)
        req.store.users.unban(uid)
        ban_ends.forget(req.admin.rt, uid)
        limits.unfreeze_user(req.admin.rt, uid)
        after = _user(req, uid)
        req.audited("user.unban", f"user:{uid}", _ban_state(before), _ban_state(after))
        return after, _text(req, after, "unbanned") if notify else None
    user, notice = await req.call(change)
    if notice:
        await req.admin.notify(uid, notice)
    return {"user": user_json.detail(user)}


@route("POST", "/users/{id}/reset", role="admin")
async def reset(req: AdminRequest) -> dict[str, Any]:
    uid, body = _uid(req), await req.body()
    if body.get("confirm") is not True:
        raise invalid("confirm", "must be true (resetting sets the balance to 0)")

    def change() -> User:
        before = _user(req, uid)
        if before.points:
            req.store.points.debit_if_enough(uid, before.points, "reset", f"admin {req.admin_id}: reset",
                                             key=f"admin:{req.admin_id}:reset:{secrets.token_hex(8)}")
        after = _user(req, uid)
        req.audited("user.reset", f"user:{uid}", {"points": before.points}, {"points": after.points})
        return after
    return {"user": user_json.detail(await req.call(change))}


@route("POST", "/users/{id}/clear-device", role="moderator")
async def clear_device(req: AdminRequest) -> dict[str, Any]:
    uid = _uid(req)

    def change() -> dict[str, Any]:
        before = _user(req, uid)
        devices = [f.fingerprint_hash for f in req.store.fingerprints.for_user(uid)]
        forgotten = req.store.fingerprints.forget(uid)
        if before.captcha_state == user_json.DEVICE_TAKEN:
            req.store.users.set_captcha(uid, False, "")
        after = _user(req, uid)
        req.audited("user.clear_device", f"user:{uid}", {"devices": devices, "captcha_state": before.captcha_state},
                    {"devices": [], "captcha_state": after.captcha_state})
        return {"user": user_json.detail(after), "forgotten": forgotten}
    return await req.call(change)
