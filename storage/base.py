"""The storage interface: one `Store` holding explicit repositories, implemented once per backend.

Handlers never write queries; they call these methods. Every method that changes a user (including
points; except `touch_many`) reports the user ids to the store's listeners so caches can invalidate them;
`register` reports the users whose username the new one took, not the new one (nothing caches an absence).
Points change only through `PointsRepository` (and the referral/task methods that pay rewards), each
change atomic and written together with its ledger row.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from storage.admin_records import GRANTABLE, AdminRole, AuditEntry
from storage.broadcast_records import Broadcast, Message, Recipient, Segment
from storage.instrumentation import RoundTrips
from storage.records import (
    Fingerprint,
    LedgerEntry,
    NotFoundError,
    Referral,
    Submission,
    Task,
    Ticket,
    Transfer,
    User,
    Withdrawal,
)

WEEK_S = 7 * 86400
FINGERPRINT_TTL_S = 90 * 86400


def reward_key(user_id: int, task_id: str, completion: int) -> str:
    """Ledger id of the reward for one task completion: paying it twice is impossible by construction."""
    return f"task:{task_id}:{user_id}:{completion}"


def check_amount(amount: int) -> None:
    """Amounts are non-negative integers; the method name says the direction."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValueError(f"amount must be a non-negative integer, not {amount!r}")


def credited_balance(user_id: int, balance: int | None) -> int:
    """The balance after a credit: a credit never overdraws, so no balance means no such user."""
    if balance is None:
        raise NotFoundError(f"user {user_id} does not exist")
    return balance


def check_transfer(sender_id: int, receiver_id: int, amount: int, fee: int) -> None:
    check_amount(amount)
    if sender_id == receiver_id:
        raise ValueError("cannot transfer to oneself")
    if not isinstance(fee, int) or not 0 <= fee <= amount:
        raise ValueError(f"fee must be within 0..{amount}, not {fee!r}")


def check_grantable(role: str) -> None:
    """Only GRANTABLE roles are stored (super_admin comes from the configuration, never a grant)."""
    if role not in GRANTABLE:
        raise ValueError(f"role must be one of {', '.join(GRANTABLE)}, not {role!r}")


class UserLookup(Protocol):
    """One user by id, as handlers read it: the worker's UserCache, or a UserRepository itself."""

    def get(self, user_id: int) -> User | None: ...


class UserRepository(abc.ABC):
    """Users by Telegram id: registration, profile, moderation, wallet, activity, leaderboards."""

    @abc.abstractmethod
    def get(self, user_id: int) -> User | None: ...
    @abc.abstractmethod
    def find_by_username(self, username: str) -> User | None:
        """Case-insensitive; a leading @ is ignored. Usernames are unique at any moment on Telegram, so
        `register` and `update_profile` take a username away from every other user that still had it:
        the latest holder is the one found."""
    @abc.abstractmethod
    def find_by_referral_code(self, code: str) -> User | None: ...
    @abc.abstractmethod
    def find_by_wallet(self, address: str) -> User | None: ...
    @abc.abstractmethod
    def register(self, user_id: int, username: str = "", first_name: str = "", last_name: str = "",
                 language_code: str = "", is_premium: bool = False, referral_code: str | None = None,
                 at: float | None = None) -> tuple[User, bool]:
        """Create the user unless it exists; returns (user, created). Reports to the listeners only the
        users whose username the new one took, not the new user: no cache can hold a row that did not
        exist, because a cache never stores an absence and no user row is ever deleted."""
    @abc.abstractmethod
    def update_profile(self, user_id: int, username: str, first_name: str, last_name: str,
                       language_code: str, is_premium: bool) -> None: ...
    @abc.abstractmethod
    def set_language(self, user_id: int, language_code: str) -> None: ...
    @abc.abstractmethod
    def set_referral_code(self, user_id: int, code: str) -> bool:
        """One-time custom code: False if the user's code is already locked; DuplicateError if taken."""
    @abc.abstractmethod
    def set_captcha(self, user_id: int, passed: bool, state: str = "") -> None: ...
    @abc.abstractmethod
    def set_wallet(self, user_id: int, address: str) -> None:
        """Set the wallet (the old one goes to previous_wallet); DuplicateError if another user has it."""
    @abc.abstractmethod
    def ban(self, user_id: int, reason: str, until: float | None = None) -> None: ...
    @abc.abstractmethod
    def unban(self, user_id: int) -> None: ...
    @abc.abstractmethod
    def set_blocked_bot(self, user_id: int, blocked: bool) -> None:
        """The user blocked the bot (Telegram 403): kept apart from bans."""
    @abc.abstractmethod
    def touch_many(self, last_active: dict[int, float]) -> None:
        """Set last_active_at for many users in one bulk write (only ever moves forward). The one write
        that does NOT notify listeners: invalidating on every message would empty the user cache, so a
        cached user's last_active_at may lag; queries on activity read the database."""
    @abc.abstractmethod
    def count(self) -> int: ...
    @abc.abstractmethod
    def count_active_since(self, since: float) -> int: ...
    @abc.abstractmethod
    def count_registered_since(self, since: float) -> int: ...
    @abc.abstractmethod
    def top_by_total_earned(self, limit: int = 10) -> list[User]:
        """Leaderboard, ties broken by the lower id (earlier user)."""
    @abc.abstractmethod
    def top_by_referrals(self, limit: int = 10) -> list[User]: ...
    @abc.abstractmethod
    def rank_by_total_earned(self, user_id: int, max_rank: int | None = None) -> int | None:
        """1 + users with more total_earned; None for an unknown user. With `max_rank`, counting stops
        there and a lower rank comes back as max_rank + 1 (shown as "#100+"): cheap on millions of users."""
    @abc.abstractmethod
    def rank_by_referrals(self, user_id: int, max_rank: int | None = None) -> int | None: ...
    @abc.abstractmethod
    def iter_all(self, batch_size: int = 1000) -> Iterator[User]:
        """Every user in id order, fetched in pages (CSV export)."""


class ReferralRepository(abc.ABC):
    """Who referred whom (one referrer per referred user) and the once-only bonus."""

    @abc.abstractmethod
    def record(self, referrer_id: int, referred_id: int, at: float | None = None) -> bool:
        """Attribute `referred_id` to `referrer_id` (also sets users.referred_by); False if already
        attributed, self-referral, or a direct loop (the referrer was referred by the referred)."""
    @abc.abstractmethod
    def get(self, referred_id: int) -> Referral | None: ...
    @abc.abstractmethod
    def list_by_referrer(self, referrer_id: int, limit: int = 20, offset: int = 0) -> list[Referral]:
        """Newest first."""
    @abc.abstractmethod
    def count_by_referrer(self, referrer_id: int) -> int: ...
    @abc.abstractmethod
    def count_active_since(self, referrer_id: int, since: float) -> int:
        """Referred users past the captcha active since `since` (the "active in the last 7 days"
        figure; verified like users.referral_count, so it never exceeds it)."""
    @abc.abstractmethod
    def credit_bonuses(self, items: list[tuple[int, int, int]]) -> list[bool]:
        """For each (referred_id, referrer_bonus, welcome_bonus): pay both sides exactly once and count
        the referral on the referrer. True where this call paid, False if paid before or unknown."""

    def credit_bonus(self, referred_id: int, referrer_bonus: int, welcome_bonus: int) -> bool:
        """`credit_bonuses` for one referral."""
        return self.credit_bonuses([(referred_id, referrer_bonus, welcome_bonus)])[0]


class TaskRepository(abc.ABC):
    """Task definitions (seeded from configuration, managed by admins at runtime)."""

    EDITABLE = frozenset({"kind", "title", "reward", "target", "verification", "proof_pattern",
                          "auto_approve", "cooldown_s", "active", "order"})

    @abc.abstractmethod
    def create(self, task: Task) -> Task:
        """Insert; DuplicateError if the id exists. created_at is set here."""
    @abc.abstractmethod
    def seed(self, tasks: Iterable[Task]) -> int:
        """Insert the tasks whose id is missing, leave existing ones alone; returns how many were added."""
    @abc.abstractmethod
    def update(self, task_id: str, **changes: Any) -> Task | None: ...
    @abc.abstractmethod
    def get(self, task_id: str) -> Task | None: ...
    @abc.abstractmethod
    def list(self, active_only: bool = True) -> list[Task]:
        """Ordered by `order`, then creation."""

    def set_active(self, task_id: str, active: bool) -> Task | None:
        return self.update(task_id, active=active)

    @abc.abstractmethod
    def delete(self, task_id: str) -> bool:
        """Remove a task definition (its submissions and ledger rows stay); False if there was none."""


class SubmissionRepository(abc.ABC):
    """Task completions and proof submissions, with the review queue; pays rewards atomically."""

    @abc.abstractmethod
    def submit(self, user_id: int, task_id: str, proof: str, at: float | None = None) -> Submission | None:
        """Proof for review; None while one is pending or approved (a rejected one may be resubmitted)."""
    @abc.abstractmethod
    def complete(self, user_id: int, task_id: str, reward: int, cooldown_s: int = 0,
                 at: float | None = None) -> int | None:
        """Mark a self-verified task done and pay `reward`; returns the new balance, or None when
        already done (cooldown_s 0) or still cooling down since the last completion."""
    @abc.abstractmethod
    def review(self, submission_id: str, approve: bool, reviewer_id: int | None, reward: int = 0,
               at: float | None = None) -> Submission | None:
        """Approve (paying `reward`) or reject a pending submission; None unless it was pending."""
    @abc.abstractmethod
    def get(self, submission_id: str) -> Submission | None: ...
    @abc.abstractmethod
    def get_for(self, user_id: int, task_id: str) -> Submission | None: ...
    @abc.abstractmethod
    def list_pending(self, limit: int = 10, offset: int = 0) -> list[Submission]:
        """The review queue, oldest first."""
    @abc.abstractmethod
    def list_for_user(self, user_id: int) -> list[Submission]: ...
    @abc.abstractmethod
    def count_by_status(self) -> dict[str, int]: ...


class PointsRepository(abc.ABC):
    """Balances and the append-only ledger; transfers and withdrawals never overdraw."""

    @abc.abstractmethod
    def balance(self, user_id: int) -> int | None: ...
    @abc.abstractmethod
    def credit(self, user_id: int, amount: int, kind: str, reference: str = "", key: str | None = None) -> int:
        """Add `amount` (>= 0) and write the ledger row; returns the new balance. With `key`, a repeated
        call with the same key credits nothing. NotFoundError for an unknown user."""
    @abc.abstractmethod
    def debit_if_enough(self, user_id: int, amount: int, kind: str, reference: str = "",
                        key: str | None = None) -> int | None:
        """Take `amount` (>= 0) only if the balance covers it; returns the new balance or None."""
    @abc.abstractmethod
    def transfer(self, sender_id: int, receiver_id: int, amount: int, fee: int = 0,
                 key: str | None = None) -> Transfer | None:
        """Sender pays `amount`, receiver gets amount - fee; None if the sender's balance is short.
        ValueError for self-transfer or fee outside 0..amount; NotFoundError for an unknown user.
        With `key` the record's id is `keyed_id(key)`, and a repeated call with the same key moves
        nothing and returns the first call's record (a redelivered confirmation completes once)."""
    @abc.abstractmethod
    def get_transfer(self, transfer_id: str) -> Transfer | None: ...
    @abc.abstractmethod
    def transfers_for(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Transfer]:
        """Sent or received, newest first."""
    @abc.abstractmethod
    def sent_since(self, sender_id: int, since: float) -> tuple[int, int]:
        """(count, amount) of transfers sent since `since`: the daily limit check."""
    @abc.abstractmethod
    def create_withdrawal(self, user_id: int, amount: int, address: str,
                          key: str | None = None) -> Withdrawal | None:
        """Debit `amount` and create a pending withdrawal; None if the balance is short. With `key`,
        as for `transfer`: id `keyed_id(key)`, and a repeated call returns the first withdrawal."""
    @abc.abstractmethod
    def get_withdrawal(self, withdrawal_id: str) -> Withdrawal | None: ...
    @abc.abstractmethod
    def withdrawals_for(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Withdrawal]: ...
    @abc.abstractmethod
    def list_withdrawals(self, status: str = "pending", limit: int = 20, offset: int = 0) -> list[Withdrawal]:
        """Oldest first."""
    @abc.abstractmethod
    def count_withdrawals(self, status: str = "pending") -> int:
        """How many withdrawals have `status` (admin stats: no cap)."""
    @abc.abstractmethod
    def mark_withdrawal_paid(self, withdrawal_id: str, tx_hash: str = "") -> bool: ...
    @abc.abstractmethod
    def mark_withdrawal_failed(self, withdrawal_id: str, note: str = "") -> bool:
        """Pending -> failed and refund the points; False unless it was pending."""
    @abc.abstractmethod
    def history(self, user_id: int, limit: int = 10, offset: int = 0) -> list[LedgerEntry]:
        """The user's ledger, newest first (paginate with limit/offset)."""
    @abc.abstractmethod
    def history_count(self, user_id: int) -> int: ...
    @abc.abstractmethod
    def earned_by_kind(self, user_id: int) -> dict[str, int]:
        """Sum of ledger amounts per kind (the points breakdown); sum(values) equals the balance."""
    @abc.abstractmethod
    def totals(self) -> dict[str, int]:
        """{"points": in circulation, "total_earned": ever credited}: admin stats."""


class TicketRepository(abc.ABC):
    """Support tickets, at most one per user and category per interval."""

    @abc.abstractmethod
    def open(self, user_id: int, category: str, text: str, min_interval_s: int = 86400,
             at: float | None = None) -> Ticket | None:
        """None if the user opened a ticket in this category less than min_interval_s ago."""
    @abc.abstractmethod
    def get(self, ticket_id: str) -> Ticket | None: ...
    @abc.abstractmethod
    def list_open(self, limit: int = 20, offset: int = 0) -> list[Ticket]:
        """Oldest first."""
    @abc.abstractmethod
    def count_open(self) -> int:
        """Open tickets (admin stats: no cap)."""
    @abc.abstractmethod
    def list_for_user(self, user_id: int, limit: int = 10) -> list[Ticket]: ...
    @abc.abstractmethod
    def reply(self, ticket_id: str, admin_id: int, text: str) -> bool: ...
    @abc.abstractmethod
    def close(self, ticket_id: str) -> bool: ...


class FingerprintRepository(abc.ABC):
    """Device fingerprints per user, expiring FINGERPRINT_TTL_S after they were last seen."""

    @abc.abstractmethod
    def record(self, user_id: int, fingerprint_hash: str, ip_hash: str = "", ttl_s: int = FINGERPRINT_TTL_S,
               at: float | None = None) -> None: ...
    @abc.abstractmethod
    def users_with(self, fingerprint_hash: str) -> list[int]:
        """Users (ascending) with this live fingerprint: the one-device-one-account check."""
    @abc.abstractmethod
    def for_user(self, user_id: int) -> list[Fingerprint]: ...
    @abc.abstractmethod
    def holders(self, fingerprint_hash: str) -> list[Fingerprint]:
        """Live rows of this device, first seen first (ties: lower user id): the first one owns the device."""
    @abc.abstractmethod
    def forget(self, user_id: int, keep: str | None = None) -> int:
        """Delete a user's devices (but `keep`): a device change, or an admin clearing a device."""
    @abc.abstractmethod
    def purge_expired(self, at: float | None = None) -> int:
        """Delete expired rows (MongoDB's TTL monitor does this too); reads never return them."""


class ClaimRepository(abc.ABC):
    """Nonces of on-chain claims (WITHDRAW_MODE=claim): one per withdrawal, never reused by a user."""

    @abc.abstractmethod
    def reserve(self, withdrawal_id: str, user_id: int) -> int:
        """The withdrawal's nonce: the user's last nonce + 1 the first time, the same one on every
        later call (a redelivered confirmation signs the same claim)."""
    @abc.abstractmethod
    def last_nonce(self, user_id: int) -> int:
        """The user's highest nonce so far (0: none)."""
    @abc.abstractmethod
    def import_last_nonce(self, user_id: int, nonce: int) -> bool:
        """Carry over the last nonce another system used for this user (the Node bot's migration), so
        the next `reserve` is above it; False (nothing written) if this user has claims already."""


class SettingsRepository(abc.ABC):
    """Runtime bot settings (maintenance switch, limits, ...) as JSON values by key."""

    @abc.abstractmethod
    def get(self, key: str, default: Any = None) -> Any: ...
    @abc.abstractmethod
    def set(self, key: str, value: Any) -> None: ...
    @abc.abstractmethod
    def delete(self, key: str) -> None: ...
    @abc.abstractmethod
    def all(self) -> dict[str, Any]: ...


class BroadcastRepository(abc.ABC):
    """Broadcasts and their per-recipient rows (storage.broadcast_records states the invariant).

    The owner of a running broadcast (one worker, by a Redis lease) alternates `claim_page` (rows
    written pending, cursor moved, in one step) and `finish` (outcomes and counters); a new owner
    first calls `settle_in_doubt`. Recipients are walked in user id order, a page at a time; those
    refused by 429s are `defer`red and come back through `claim_retries` on a later pass."""

    @abc.abstractmethod
    def create(self, message: Message, segment: Segment, created_by: int, at: float | None = None) -> Broadcast:
        """A new draft; `total` is the segment's count now (the preview)."""
    @abc.abstractmethod
    def get(self, broadcast_id: str) -> Broadcast | None: ...
    @abc.abstractmethod
    def history(self, limit: int = 20, offset: int = 0, status: str | None = None) -> list[Broadcast]:
        """Newest first (history); with `status`, only those."""
    @abc.abstractmethod
    def history_page(self, before: tuple[float, str] | None, limit: int) -> list[Broadcast]:
        """Newest first, older than `before` (created_at, id of the previous page's last row): a keyset
        page (one index range, never OFFSET) for the admin web's history."""
    @abc.abstractmethod
    def set_status(self, broadcast_id: str, status: str, at: float | None = None) -> Broadcast | None:
        """Move to `status` if the current status allows it (TRANSITIONS); the updated broadcast, or None
        (unknown id or a transition not allowed). Starting refreshes `total` and sets started_at."""
    @abc.abstractmethod
    def count_segment(self, segment: Segment) -> int:
        """How many users the segment holds now."""
    @abc.abstractmethod
    def claim_page(self, broadcast_id: str, limit: int, at: float | None = None) -> list[int] | None:
        """The next `limit` segment users after the cursor: writes their rows pending and moves the
        cursor past them; returns the ids whose row this call created (an existing row is never sent
        again, so the list may be empty). None: no user after the cursor, the segment is exhausted."""
    @abc.abstractmethod
    def finish(self, broadcast_id: str, outcomes: list[tuple[int, str, str]], at: float | None = None) -> None:
        """(user_id, status, reason) for pending rows: set their outcome and add to the counters."""
    @abc.abstractmethod
    def settle_in_doubt(self, broadcast_id: str, at: float | None = None) -> int:
        """A new owner's first step: pending rows (a dead owner's in-flight sends) become skipped, and
        the counters are recomputed from the rows. Returns how many rows were in doubt."""
    @abc.abstractmethod
    def defer(self, broadcast_id: str, rows: list[tuple[int, float, str]], at: float | None = None) -> int:
        """(user_id, not_before, reason) for pending rows Telegram refused with 429s: they become `retry`
        (tries + 1) and count in `retrying` until `claim_retries` hands them out again. Returns how many."""
    @abc.abstractmethod
    def claim_retries(self, broadcast_id: str, limit: int, at: float | None = None) -> list[tuple[int, int]]:
        """Up to `limit` retry rows whose not-before time has come, made pending again (so a crash leaves
        them in doubt, like any claimed row): [(user_id, tries so far)] in user id order."""
    @abc.abstractmethod
    def next_retry(self, broadcast_id: str) -> float | None:
        """The earliest not-before time of the broadcast's retry rows; None when none waits."""
    @abc.abstractmethod
    def recipient(self, broadcast_id: str, user_id: int) -> Recipient | None: ...
    @abc.abstractmethod
    def recipients(self, broadcast_id: str, status: str, after: int = 0, limit: int = 100) -> list[Recipient]:
        """Rows with `status` in user id order after `after` (keyset), e.g. the failures with reasons."""


class AdminRoleRepository(abc.ABC):
    """Admin web roles super admins granted (storage.admin_records.GRANTABLE), one per Telegram id."""

    @abc.abstractmethod
    def get(self, user_id: int) -> AdminRole | None: ...
    @abc.abstractmethod
    def grant(self, user_id: int, role: str, granted_by: int, at: float | None = None) -> AdminRole:
        """Set the role of `user_id` (replacing any earlier grant); ValueError for a role not GRANTABLE."""
    @abc.abstractmethod
    def revoke(self, user_id: int) -> bool:
        """Remove the grant; False when there was none."""
    @abc.abstractmethod
    def list(self) -> list[AdminRole]:
        """Every grant, by Telegram id."""


class AuditRepository(abc.ABC):
    """The admin web's append-only audit log, newest first, keyset-paginated on the time-ordered id."""

    @abc.abstractmethod
    def write(self, admin_id: int, role: str, action: str, target: str, before: Any = None, after: Any = None,
              at: float | None = None) -> AuditEntry:
        """Append one row (before/after: JSON-compatible values)."""
    @abc.abstractmethod
    def page(self, limit: int = 50, before_id: str | None = None, admin_id: int | None = None,
             action: str | None = None) -> list[AuditEntry]:
        """Up to `limit` rows older than `before_id` (None: from the newest), optionally of one admin
        and/or one action, newest first."""


#: A keyset cursor over a time-ordered list: (created_at, id) of the last row of the previous page.
Keyset = tuple[float, Any]


class AdminViewRepository(abc.ABC):
    """The admin web's read-only lists: keyset pages (each one index range, never OFFSET), so page
    1000 costs what page 1 costs; and the counts of its dashboard."""

    @abc.abstractmethod
    def user_counts(self) -> dict[str, int]:
        """{"total", "verified" (past the captcha), "referred" (attributed to a referrer)}."""
    @abc.abstractmethod
    def users_page(self, before_id: int | None, limit: int, name_prefix: str | None = None) -> list[User]:
        """Users with an id below `before_id` (None: from the highest), highest id first; with
        `name_prefix`, only those whose first name or username starts with it (case-insensitive)."""
    @abc.abstractmethod
    def banned_page(self, before_id: int | None, limit: int, at: float) -> list[User]:
        """Users banned at `at` (not an expired timed ban), highest id first."""
    @abc.abstractmethod
    def users_in_captcha_state(self, state: str, before_id: int | None, limit: int) -> list[User]:
        """Users whose captcha_state is `state` (e.g. refused for a device another account holds)."""
    @abc.abstractmethod
    def ledger_page(self, user_id: int, before: Keyset | None, limit: int) -> list[LedgerEntry]:
        """The user's ledger, newest first, older than `before` (created_at, id)."""
    @abc.abstractmethod
    def referrals_page(self, referrer_id: int, before: Keyset | None, limit: int) -> list[Referral]:
        """Who `referrer_id` referred, newest first, older than `before` (created_at, referred_id)."""
    @abc.abstractmethod
    def submissions_page(self, status: str, after: Keyset | None, limit: int) -> list[Submission]:
        """Submissions with `status`, oldest first (the review queue), after `after` (created_at, id)."""
    @abc.abstractmethod
    def withdrawals_page(self, status: str, after: Keyset | None, limit: int) -> list[Withdrawal]:
        """Withdrawals with `status`, oldest first, after `after` (created_at, id)."""
    @abc.abstractmethod
    def tickets_page(self, status: str, after: Keyset | None, limit: int) -> list[Ticket]:
        """Tickets with `status`, oldest first, after `after` (created_at, id)."""


class Store(abc.ABC):
    """One backend's repositories plus schema and statistics; built in a worker after fork."""

    backend = "abstract"
    users: UserRepository
    referrals: ReferralRepository
    tasks: TaskRepository
    submissions: SubmissionRepository
    points: PointsRepository
    tickets: TicketRepository
    fingerprints: FingerprintRepository
    claims: ClaimRepository
    settings: SettingsRepository
    broadcasts: BroadcastRepository
    admin_roles: AdminRoleRepository
    audit: AuditRepository
    admin_views: AdminViewRepository

    def __init__(self) -> None:
        self.round_trips = RoundTrips(getattr(self, "backend", ""))
        self._user_listeners: list[Callable[[list[int]], None]] = []

    def on_users_changed(self, callback: Callable[[list[int]], None]) -> None:
        """Call `callback(user_ids)` after every write that changes those users (cache invalidation).
        A newly created user is not reported (nothing can have cached it), so a cache must never store
        an absence: "no such user" is read from the database every time."""
        self._user_listeners.append(callback)

    def users_changed(self, user_ids: Iterable[int]) -> None:
        ids = sorted({int(i) for i in user_ids if i is not None})
        if ids:
            for callback in self._user_listeners:
                callback(ids)

    @abc.abstractmethod
    def init_schema(self) -> list[str]:
        """Create every table/collection and index that is missing; returns what was created."""
    @abc.abstractmethod
    def stats(self) -> dict[str, Any]:
        """{"counts": {name: rows}, "indexes": [{collection, name, keys, ops}]}: `botrunner db stats`."""
    @abc.abstractmethod
    def repair(self) -> int:
        """Finish money movements a crash interrupted; returns how many were finished."""
    @abc.abstractmethod
    def ping(self) -> None:
        """One cheap round trip; raises when the database cannot be reached (/readyz)."""
    @abc.abstractmethod
    def import_records(self, table: str, records: list[Any]) -> tuple[int, list[tuple[Any, str]]]:
        """Insert records that carry their own ids (users, referrals, task_submissions,
        point_transactions, transfers, withdrawals, tickets) as they are, balances included: the
        migration's only write. Ids already present are skipped; rows clashing on another unique value
        come back as (record, reason). Returns (inserted, rejected)."""
    @abc.abstractmethod
    def close(self) -> None: ...
