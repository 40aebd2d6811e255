"""From the Node airdrop bot's MongoDB documents to botrunner records: pure functions, no I/O.

Invariant: every function returns a record or raises `Unmappable` with a reason an operator can act
on; nothing is guessed silently. Ids become Telegram ints only when they are plain ASCII digits
that fit a signed 64-bit integer (what SQLite and BSON hold); the Node bot's string ids for other
records become botrunner's short ids through `keyed_id`, so a second run maps them to the same id.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from storage.records import LedgerEntry, Referral, Submission, Ticket, Transfer, User, Withdrawal, keyed_id, now

MAX_ID = 2**63 - 1
_SUBMISSION_STATUS = {"pending": "pending", "approved": "approved", "completed": "approved",
                      "rejected": "rejected", "denied": "rejected"}
_WITHDRAWAL_STATUS = {"pending": "pending", "processing": "pending", "completed": "paid", "paid": "paid",
                      "confirmed": "paid", "failed": "failed", "denied": "failed", "cancelled": "failed"}
_TICKET_STATUS = {"open": "open", "pending": "open", "answered": "answered", "replied": "answered",
                  "closed": "closed", "resolved": "closed"}


class Unmappable(ValueError):
    """A Node document botrunner cannot represent; str() says why."""


def first(doc: dict[str, Any], *names: str) -> Any:
    """The first of `names` (dotted paths allowed) present and not None in `doc`."""
    for name in names:
        value: Any = doc
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def telegram_id(value: Any, what: str = "id") -> int:
    """A Telegram id from an int or a string of ASCII digits, within SQLite's and BSON's int64."""
    if isinstance(value, bool):
        raise Unmappable(f"{what} {value!r} is not a number")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise Unmappable(f"{what} {value!r} is not a number")
        value = int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Unmappable(f"{what} {value!r} is not a positive 64-bit integer")
    return value


def optional_id(value: Any, what: str) -> int | None:
    return None if value in (None, "", 0, "0") else telegram_id(value, what)


def whole(value: Any, what: str, signed: bool = False) -> int:
    """Points: an integer (or an integral float), non-negative unless `signed`."""
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip().isascii() else None
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unmappable(f"{what} is not a number")
    if isinstance(value, float) and not value.is_integer():
        raise Unmappable(f"{what} {value!r} is not a whole number of points")
    value = int(value)
    if abs(value) > MAX_ID or (value < 0 and not signed):
        raise Unmappable(f"{what} {value!r} is out of range")
    return value


def epoch(value: Any, default: float | None = None) -> float:
    """Seconds since the epoch from a BSON date, an ISO string, or epoch milliseconds/seconds."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 1000 if value > 1e11 else float(value)
    if isinstance(value, str) and value.strip():
        try:
            return epoch(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            raise Unmappable(f"date {value!r} is not ISO 8601") from None
    return now() if default is None else default


def node_id(doc: dict[str, Any]) -> str:
    """The Node bot's own id of a document (its string `id`, else `_id`)."""
    return str(first(doc, "id", "_id"))


def user(doc: dict[str, Any], ban: dict[str, Any] | None = None, at: float | None = None) -> User:
    """A `users` document (camelCase, string id) plus its live `banned_users` row, if any."""
    at = at or now()
    uid = telegram_id(first(doc, "telegramId", "id", "userId", "_id"))
    registered = epoch(first(doc, "registeredAt", "createdAt"), at)
    blocked_until = first(doc, "blockedUntil")
    until = epoch(blocked_until) if blocked_until is not None else None
    reason = str(first(doc, "blockReason") or "")
    blocked_bot = bool(first(doc, "isBlocked")) and ("403" in reason or "blocked the bot" in reason.lower())
    banned = bool(first(doc, "isBlocked")) and not blocked_bot and (until is None or until > at)
    if ban is not None:
        banned, reason, until = True, str(first(ban, "reason", "banReason") or reason), _ban_until(ban)
    return User(
        uid, str(first(doc, "username") or ""), str(first(doc, "firstName") or ""),
        str(first(doc, "lastName") or ""), str(first(doc, "languageCode") or ""), bool(first(doc, "isPremium")),
        referral_code=first(doc, "referralCode") or None, referral_code_locked=bool(first(doc, "referralCodeLocked")),
        referred_by=_referrer(first(doc, "referredBy"), uid),
        referral_count=whole(first(doc, "totalReferrals"), "totalReferrals"),
        points=whole(first(doc, "points"), "points"), total_earned=whole(first(doc, "totalEarned"), "totalEarned"),
        captcha_passed=_verified(doc), wallet_address=first(doc, "walletAddress") or None,
        previous_wallet=first(doc, "previousWallet") or None, banned=banned, ban_reason=reason if banned else "",
        banned_until=until if banned else None, blocked_bot=blocked_bot, registered_at=registered,
        last_active_at=epoch(first(doc, "lastActiveAt"), registered))


def last_nonce(doc: dict[str, Any]) -> int:
    """The last claim nonce the Node bot signed for this user (0: none)."""
    return whole(first(doc, "lastNonceUsed", "claimNonce", "nonce"), "lastNonceUsed")


def _referrer(value: Any, uid: int) -> int | None:
    try:
        referrer = optional_id(value, "referredBy")
    except Unmappable:          # a referral code instead of an id: the referrals collection has the id
        return None
    return referrer if referrer != uid else None


def _verified(doc: dict[str, Any]) -> bool:
    flags = ("isVerified", "captchaCompleted", "svgCaptchaVerified", "miniappVerified")
    return any(bool(doc.get(f)) for f in flags) or doc.get("registrationStatus") == "completed"


def live_ban(doc: dict[str, Any], at: float) -> tuple[int, dict[str, Any]] | None:
    """A `banned_users` row that still bans: (user id, row); None for spam freezes and expired bans."""
    if "spam" in str(first(doc, "type", "banType") or "").lower() or first(doc, "isActive") is False:
        return None
    until = _ban_until(doc)
    if until is not None and until <= at:
        return None
    return telegram_id(first(doc, "userId", "telegramId", "id"), "userId"), doc


def _ban_until(doc: dict[str, Any]) -> float | None:
    value = first(doc, "bannedUntil", "expiresAt", "until", "blockedUntil")
    return epoch(value) if value is not None else None


def ledger(doc: dict[str, Any]) -> LedgerEntry:
    """A `point_transactions` row; balance_after is filled in per user, in time order, by the caller."""
    kind = str(first(doc, "type", "kind") or "import").lower()[:32]
    reference = str(first(doc, "metadata.category", "description", "reason") or "")[:200]
    return LedgerEntry(keyed_id(f"node:ledger:{node_id(doc)}"), telegram_id(first(doc, "userId"), "userId"),
                       whole(first(doc, "amount", "points"), "amount", signed=True), kind, reference, 0,
                       epoch(first(doc, "createdAt", "timestamp")))


def referral(doc: dict[str, Any]) -> Referral:
    """A `referrals` row: the Node bot wrote one only when it paid the bonus, so it counts as credited."""
    referrer = telegram_id(first(doc, "referrerId"), "referrerId")
    referred = telegram_id(first(doc, "referredUserId", "referredId"), "referredUserId")
    if referrer == referred:
        raise Unmappable("self-referral")
    return Referral(referred, referrer, epoch(first(doc, "createdAt")), True)


def submission(doc: dict[str, Any]) -> Submission:
    status = str(first(doc, "status") or "").lower()
    if status not in _SUBMISSION_STATUS:
        raise Unmappable(f"status {first(doc, 'status')!r} is not pending/approved/rejected")
    mapped = _SUBMISSION_STATUS[status]
    reviewed = first(doc, "reviewedAt", "approvedAt", "rejectedAt")
    return Submission(keyed_id(f"node:submission:{node_id(doc)}"), telegram_id(first(doc, "userId"), "userId"),
                      str(first(doc, "taskId") or ""), mapped,
                      str(first(doc, "submissionData", "proof", "submission", "text") or "")[:1000],
                      optional_id(first(doc, "reviewedBy"), "reviewedBy"),
                      epoch(first(doc, "createdAt", "submittedAt")),
                      epoch(reviewed) if reviewed is not None else None,
                      completions=1 if mapped == "approved" else 0, paid=mapped == "approved")


def transfer(doc: dict[str, Any]) -> Transfer:
    status = str(first(doc, "status") or "completed").lower()
    if status not in ("completed", "success", "done"):
        raise Unmappable(f"status {status!r}: only completed transfers moved points")
    amount, fee = whole(first(doc, "amount"), "amount"), whole(first(doc, "fee"), "fee")
    net = whole(first(doc, "net", "netAmount"), "net") if first(doc, "net", "netAmount") is not None else amount - fee
    sender = telegram_id(first(doc, "senderId", "fromUserId"), "senderId")
    receiver = telegram_id(first(doc, "receiverId", "toUserId"), "receiverId")
    if sender == receiver or not 0 <= fee <= amount or net != amount - fee:
        raise Unmappable("sender equals receiver, or amount/fee/net do not add up")
    key = first(doc, "id", "hash", "_id")
    return Transfer(keyed_id(f"node:transfer:{key}"), sender, receiver, amount, fee, net,
                    epoch(first(doc, "createdAt")))


def withdrawal(doc: dict[str, Any]) -> Withdrawal:
    """Failed Node withdrawals never took the points, so they come in as already refunded."""
    status = str(first(doc, "status") or "").lower()
    if status not in _WITHDRAWAL_STATUS:
        raise Unmappable(f"status {first(doc, 'status')!r} is unknown")
    mapped = _WITHDRAWAL_STATUS[status]
    settled = first(doc, "completedAt", "processedAt", "updatedAt")
    return Withdrawal(keyed_id(f"node:withdrawal:{node_id(doc)}"), telegram_id(first(doc, "userId"), "userId"),
                      whole(first(doc, "points", "pointsAmount", "amount"), "points"),
                      str(first(doc, "walletAddress", "address") or ""), mapped,
                      epoch(first(doc, "createdAt", "requestedAt")),
                      str(first(doc, "txHash", "transactionHash") or ""), str(first(doc, "error", "note") or "")[:500],
                      epoch(settled) if settled is not None and mapped != "pending" else None,
                      refunded=mapped == "failed")


def ticket(doc: dict[str, Any]) -> Ticket:
    """A `messages` document of type support_ticket."""
    status = _TICKET_STATUS.get(str(first(doc, "status") or "open").lower(), "open")
    text = str(first(doc, "message", "text", "content") or "")
    if not text:
        raise Unmappable("empty ticket")
    reply = str(first(doc, "reply", "adminReply", "response") or "")
    replied = first(doc, "repliedAt", "respondedAt")
    return Ticket(keyed_id(f"node:ticket:{node_id(doc)}"), telegram_id(first(doc, "userId"), "userId"),
                  str(first(doc, "category") or "technical").lower()[:32], text[:4000], status,
                  epoch(first(doc, "createdAt")), reply[:4000],
                  optional_id(first(doc, "repliedBy", "respondedBy"), "repliedBy"),
                  epoch(replied) if replied is not None else None)
