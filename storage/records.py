"""Records the repositories return, and the errors they raise.

Plain dataclasses, the same for every backend. Times are float seconds since the epoch (UTC); the
MongoDB backend stores them as BSON dates so TTL indexes work, and converts at its boundary.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

#: Credits that move existing points around rather than earn new ones: they leave total_earned alone.
NOT_EARNED = frozenset({"transfer_in", "withdrawal_refund"})


class StorageError(Exception):
    """Base class of the errors repositories raise on purpose."""


class DuplicateError(StorageError):
    """A unique value (referral code, wallet, ...) already belongs to another record."""


class NotFoundError(StorageError):
    """The record an operation needs does not exist."""


def now() -> float:
    return time.time()


def username_key(username: str) -> str:
    """How usernames are compared: without the @, case-insensitive."""
    return (username or "").lstrip("@").lower()


def new_id() -> str:
    """A short random id (12 hex chars): fits comfortably in 64-byte callback data."""
    return secrets.token_hex(6)


def keyed_id(key: str) -> str:
    """The id of the record an idempotency key creates (same shape as `new_id`): a repeated call with
    the same key finds the record the first call made."""
    return hashlib.sha256(f"key:{key}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class User:
    """One Telegram user of the bot (id = Telegram user id)."""

    id: int
    username: str = ""
    first_name: str = ""
    last_name: str = ""
    language_code: str = ""
    is_premium: bool = False
    referral_code: str | None = None
    referral_code_locked: bool = False
    referred_by: int | None = None
    referral_count: int = 0
    points: int = 0
    total_earned: int = 0
    captcha_passed: bool = False
    captcha_state: str = ""
    wallet_address: str | None = None
    previous_wallet: str | None = None
    banned: bool = False
    ban_reason: str = ""
    banned_until: float | None = None
    blocked_bot: bool = False
    registered_at: float = 0.0
    last_active_at: float = 0.0

    def is_banned(self, at: float | None = None) -> bool:
        """Banned now: a ban without expiry, or one whose expiry lies in the future."""
        return self.banned and (self.banned_until is None or self.banned_until > (at or now()))


@dataclass(frozen=True)
class Referral:
    """`referred_id` joined through `referrer_id`; unique per referred user."""

    referred_id: int
    referrer_id: int
    created_at: float
    bonus_credited: bool = False


@dataclass(frozen=True)
class Task:
    """A task users complete for points; `verification` says how it is checked."""

    id: str
    kind: str
    title: str
    reward: int
    target: str = ""
    verification: str = ""
    proof_pattern: str = ""
    auto_approve: bool = False
    cooldown_s: int = 0
    active: bool = True
    order: int = 0
    created_at: float = 0.0


@dataclass(frozen=True)
class Submission:
    """A user's completion of (or proof for) one task; unique per (user, task)."""

    id: str
    user_id: int
    task_id: str
    status: str                 # pending / approved / rejected
    proof: str = ""
    reviewer_id: int | None = None
    created_at: float = 0.0
    reviewed_at: float | None = None
    completions: int = 0        # approvals so far (daily tasks are completed again after their cooldown)
    paid: bool = False          # the reward for the latest approval is in the ledger


@dataclass(frozen=True)
class LedgerEntry:
    """One append-only point movement: signed amount, kind, reference, balance after it."""

    id: str
    user_id: int
    amount: int
    kind: str
    reference: str
    balance_after: int
    created_at: float


@dataclass(frozen=True)
class Transfer:
    """Points sent from one user to another; the fee is burned (receiver gets `net`)."""

    id: str
    sender_id: int
    receiver_id: int
    amount: int
    fee: int
    net: int
    created_at: float


@dataclass(frozen=True)
class Withdrawal:
    """Points taken out to a wallet; pending until an admin marks it paid or failed (refunded)."""

    id: str
    user_id: int
    amount: int
    address: str
    status: str                 # pending / paid / failed
    created_at: float
    tx_hash: str = ""
    note: str = ""
    settled_at: float | None = None
    refunded: bool = False


@dataclass(frozen=True)
class Fingerprint:
    """A device fingerprint seen for a user; expires (TTL) when not seen again."""

    user_id: int
    fingerprint_hash: str
    ip_hash: str
    created_at: float
    updated_at: float
    expires_at: float


@dataclass(frozen=True)
class Ticket:
    """A support ticket; admins reply through the bot."""

    id: str
    user_id: int
    category: str
    text: str
    status: str                 # open / answered / closed
    created_at: float
    reply: str = ""
    replied_by: int | None = None
    replied_at: float | None = None


@functools.cache
def field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@functools.cache
def bool_fields(cls: type[DataclassInstance]) -> frozenset[str]:
    """Fields stored as 0/1 by SQLite that must come back as bool."""
    return frozenset(f.name for f in dataclasses.fields(cls) if f.type in ("bool", bool))


def from_mapping(cls: type[T], data: dict[str, Any]) -> T:
    """Build a record from a row/document, ignoring unknown keys and fixing SQLite's 0/1 booleans."""
    flags = bool_fields(cls)
    return cls(**{k: (bool(data[k]) if k in flags else data[k]) for k in field_names(cls) if k in data})


def user_to_json(user: User) -> str:
    return json.dumps(dataclasses.asdict(user), separators=(",", ":"))


def user_from_json(raw: str | bytes) -> User:
    return from_mapping(User, json.loads(raw))
