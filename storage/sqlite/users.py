"""SQLite users and referrals."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from storage.base import ReferralRepository, UserRepository
from storage.records import DuplicateError, NotFoundError, Referral, User, from_mapping, now, username_key
from storage.sqlite.connection import SQLiteStoreView
from storage.sqlite.points import apply_move


class SQLiteUsers(UserRepository):
    """Users on SQLite; each write reports the changed ids to the store's listeners."""

    def __init__(self, store: SQLiteStoreView) -> None:
        self.store = store
        self.db = store.db

    def _one(self, where: str, args: tuple) -> User | None:
        row = self.db.query_one(f"SELECT * FROM users WHERE {where}", args)
        return from_mapping(User, row) if row else None

    def get(self, user_id: int) -> User | None:
        return self._one("id = ?", (user_id,))

    def find_by_username(self, username: str) -> User | None:
        key = username_key(username)
        return self._one("username_lc = ? ORDER BY id LIMIT 1", (key,)) if key else None

    def find_by_referral_code(self, code: str) -> User | None:
        return self._one("referral_code = ?", (code,))

    def find_by_wallet(self, address: str) -> User | None:
        return self._one("wallet_address = ?", (address,))

    def register(self, user_id: int, username: str = "", first_name: str = "", last_name: str = "",
                 language_code: str = "", is_premium: bool = False, referral_code: str | None = None,
                 at: float | None = None) -> tuple[User, bool]:
        at = at or now()
        try:
            # Not INSERT ... RETURNING: a statement that returns a row keeps its autocommit transaction, and so
            # SQLite's write lock, open until the row has been handed to Python and the statement stepped to its
            # end, and taking the GIL back in between waits behind this process's other threads; every other
            # writer of every worker waited meanwhile (docs/benchmarks.md, twelfth round). A plain INSERT
            # commits inside its one step, with the GIL let go; the row is then read without the write lock.
            inserted = self.db.execute(
                "INSERT INTO users (id, username, username_lc, first_name, last_name, language_code, is_premium, "
                "referral_code, registered_at, last_active_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING", (user_id, username, username_key(username), first_name, last_name,
                                                language_code, int(is_premium), referral_code, at, at))
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(f"referral code {referral_code!r} is taken") from exc
        if inserted:
            # not the new id itself: no cache can hold a row that did not exist (see UserRepository.register)
            self.store.users_changed(self._release_username(user_id, username))
        user = self.get(user_id)
        if user is None:        # the row was inserted or already there: only a concurrent delete gets here
            raise NotFoundError(f"user {user_id} vanished while registering")
        return user, bool(inserted)

    def _release_username(self, user_id: int, username: str) -> list[int]:
        """Clear `username` from the other users still holding it (they changed it on Telegram). Looked for
        first with a read: an UPDATE takes SQLite's write lock even when it matches nothing, which is almost
        always. The UPDATE has the same condition, so a holder that appears between the two is cleared by
        its own registration's check, which sees this user (as with the UPDATE alone)."""
        key = username_key(username)
        if not key or self.db.query_one("SELECT 1 FROM users WHERE username_lc = ? AND id != ? LIMIT 1",
                                        (key, user_id)) is None:
            return []
        return [r["id"] for r in self.db.query("UPDATE users SET username = '', username_lc = '' WHERE "
                                               "username_lc = ? AND id != ? RETURNING id", (key, user_id))]

    def _update(self, user_id: int, assignments: str, args: tuple) -> int:
        changed = self.db.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*args, user_id))
        self.store.users_changed([user_id])
        return changed

    def update_profile(self, user_id: int, username: str, first_name: str, last_name: str,
                       language_code: str, is_premium: bool) -> None:
        self._update(user_id, "username = ?, username_lc = ?, first_name = ?, last_name = ?, language_code = ?, "
                     "is_premium = ?", (username, username_key(username), first_name, last_name, language_code,
                                        int(is_premium)))
        self.store.users_changed(self._release_username(user_id, username))

    def set_language(self, user_id: int, language_code: str) -> None:
        self._update(user_id, "language_code = ?", (language_code,))

    def set_referral_code(self, user_id: int, code: str) -> bool:
        try:
            changed = self.db.execute("UPDATE users SET referral_code = ?, referral_code_locked = 1 "
                                      "WHERE id = ? AND referral_code_locked = 0", (code, user_id))
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(f"referral code {code!r} is taken") from exc
        self.store.users_changed([user_id])
        return changed == 1

    def set_captcha(self, user_id: int, passed: bool, state: str = "") -> None:
        self._update(user_id, "captcha_passed = ?, captcha_state = ?", (int(passed), state))

    def set_wallet(self, user_id: int, address: str) -> None:
        try:
            self._update(user_id, "previous_wallet = CASE WHEN wallet_address IS NOT NULL AND wallet_address != ? "
                         "THEN wallet_address ELSE previous_wallet END, wallet_address = ?", (address, address))
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(f"wallet {address} belongs to another user") from exc

    def ban(self, user_id: int, reason: str, until: float | None = None) -> None:
        self._update(user_id, "banned = 1, ban_reason = ?, banned_until = ?", (reason, until))

    def unban(self, user_id: int) -> None:
        self._update(user_id, "banned = 0, ban_reason = '', banned_until = NULL", ())

    def set_blocked_bot(self, user_id: int, blocked: bool) -> None:
        self._update(user_id, "blocked_bot = ?", (int(blocked),))

    def touch_many(self, last_active: dict[int, float]) -> None:
        if not last_active:
            return
        with self.db.transaction() as tx:
            tx.executemany("UPDATE users SET last_active_at = MAX(last_active_at, ?) WHERE id = ?",
                           [(at, uid) for uid, at in last_active.items()])

    def count(self) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM users")

    def count_active_since(self, since: float) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM users WHERE last_active_at >= ?", (since,))

    def count_registered_since(self, since: float) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM users WHERE registered_at >= ?", (since,))

    def _top(self, column: str, limit: int) -> list[User]:
        rows = self.db.query(f"SELECT * FROM users ORDER BY {column} DESC, id LIMIT ?", (limit,))
        return [from_mapping(User, r) for r in rows]

    def top_by_total_earned(self, limit: int = 10) -> list[User]:
        return self._top("total_earned", limit)

    def top_by_referrals(self, limit: int = 10) -> list[User]:
        return self._top("referral_count", limit)

    def _rank(self, column: str, user_id: int, max_rank: int | None) -> int | None:
        limit = -1 if max_rank is None else max_rank   # LIMIT -1: no limit
        return self.db.scalar(f"SELECT 1 + (SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE {column} > u.{column} "
                              "LIMIT ?)) FROM users u WHERE u.id = ?", (limit, user_id))

    def rank_by_total_earned(self, user_id: int, max_rank: int | None = None) -> int | None:
        return self._rank("total_earned", user_id, max_rank)

    def rank_by_referrals(self, user_id: int, max_rank: int | None = None) -> int | None:
        return self._rank("referral_count", user_id, max_rank)

    def iter_all(self, batch_size: int = 1000) -> Iterator[User]:
        last = None
        while True:
            rows = self.db.query("SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?",
                                 (last if last is not None else -(2 ** 63), batch_size))
            yield from (from_mapping(User, r) for r in rows)
            if len(rows) < batch_size:
                return
            last = rows[-1]["id"]


class SQLiteReferrals(ReferralRepository):
    """Referrals on SQLite; the bonus is paid in the same transaction that marks it credited."""

    def __init__(self, store: SQLiteStoreView) -> None:
        self.store = store
        self.db = store.db

    def record(self, referrer_id: int, referred_id: int, at: float | None = None) -> bool:
        if referrer_id == referred_id:
            return False
        with self.db.transaction() as tx:
            referrer = tx.one("SELECT referred_by FROM users WHERE id = ?", (referrer_id,))
            if referrer is not None and referrer["referred_by"] == referred_id:
                return False
            if tx.execute("INSERT INTO referrals (referred_id, referrer_id, created_at) VALUES (?, ?, ?) "
                          "ON CONFLICT DO NOTHING", (referred_id, referrer_id, at or now())).rowcount != 1:
                return False
            tx.execute("UPDATE users SET referred_by = ? WHERE id = ? AND referred_by IS NULL",
                       (referrer_id, referred_id))
        self.store.users_changed([referred_id])
        return True

    def get(self, referred_id: int) -> Referral | None:
        row = self.db.query_one("SELECT * FROM referrals WHERE referred_id = ?", (referred_id,))
        return from_mapping(Referral, row) if row else None

    def list_by_referrer(self, referrer_id: int, limit: int = 20, offset: int = 0) -> list[Referral]:
        rows = self.db.query("SELECT * FROM referrals WHERE referrer_id = ? ORDER BY created_at DESC, "
                             "referred_id DESC LIMIT ? OFFSET ?", (referrer_id, limit, offset))
        return [from_mapping(Referral, r) for r in rows]

    def count_by_referrer(self, referrer_id: int) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM referrals WHERE referrer_id = ?", (referrer_id,))

    def count_active_since(self, referrer_id: int, since: float) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM users WHERE referred_by = ? AND captcha_passed = 1 "
                              "AND last_active_at >= ?", (referrer_id, since))

    def credit_bonuses(self, items: list[tuple[int, int, int]]) -> list[bool]:
        paid, changed = [], []
        with self.db.transaction() as tx:
            for referred_id, referrer_bonus, welcome_bonus in items:
                row = tx.one("UPDATE referrals SET bonus_credited = 1 WHERE referred_id = ? AND bonus_credited = 0 "
                             "RETURNING referrer_id", (referred_id,))
                if row is None:
                    paid.append(False)
                    continue
                referrer_id = row["referrer_id"]
                apply_move(tx, referrer_id, referrer_bonus, "referral", str(referred_id), key=f"referral:{referred_id}",
                           extra_sql="referral_count = referral_count + 1")
                if welcome_bonus:
                    apply_move(tx, referred_id, welcome_bonus, "referral_welcome", str(referrer_id),
                               key=f"welcome:{referred_id}")
                paid.append(True)
                changed += [referrer_id, referred_id]
        self.store.users_changed(changed)
        return paid
