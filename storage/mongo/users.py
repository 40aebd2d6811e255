"""MongoDB users and referrals."""
from __future__ import annotations

from collections.abc import Iterator

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from storage.base import ReferralRepository, UserRepository
from storage.mongo.documents import page, to_doc, to_record
from storage.mongo.money import ALREADY_APPLIED, MongoStoreView
from storage.records import DuplicateError, Referral, User, now, username_key

# never sent to callers: the money bookkeeping fields of a user document
HIDDEN = {"pending": 0, "recent": 0}


class MongoUsers(UserRepository):
    """Users on MongoDB (`_id` = Telegram id); leaderboards and counts read secondaryPreferred."""

    def __init__(self, store: MongoStoreView) -> None:
        self.store = store
        self.users = store.plain["users"]
        self.reports = store.reports["users"]

    def _one(self, query: dict) -> User | None:
        return to_record(User, self.users.find_one(query, HIDDEN))

    def get(self, user_id: int) -> User | None:
        return self._one({"_id": user_id})

    def find_by_username(self, username: str) -> User | None:
        key = username_key(username)
        docs = list(self.users.find({"username_lc": key}, HIDDEN).sort("_id", 1).limit(1)) if key else []
        return to_record(User, docs[0]) if docs else None

    def find_by_referral_code(self, code: str) -> User | None:
        return self._one({"referral_code": code})

    def find_by_wallet(self, address: str) -> User | None:
        return self._one({"wallet_address": address})

    def register(self, user_id: int, username: str = "", first_name: str = "", last_name: str = "",
                 language_code: str = "", is_premium: bool = False, referral_code: str | None = None,
                 at: float | None = None) -> tuple[User, bool]:
        at = at or now()
        user = User(user_id, username, first_name, last_name, language_code, bool(is_premium),
                    referral_code=referral_code, registered_at=at, last_active_at=at)
        try:
            self.store.money["users"].insert_one(to_doc(user, username_lc=username_key(username), pending=[], recent=[]))
        except DuplicateKeyError as exc:
            existing = self.get(user_id)
            if existing is None:
                raise DuplicateError(f"referral code {referral_code!r} is taken") from exc
            return existing, False
        # not the new id itself: no cache can hold a row that did not exist (see UserRepository.register)
        self.store.users_changed(self._release_username(user_id, username))
        return user, True

    def _release_username(self, user_id: int, username: str) -> list[int]:
        """Clear `username` from the other users still holding it (they changed it on Telegram)."""
        key = username_key(username)
        if not key:
            return []
        stale = [d["_id"] for d in self.users.find({"username_lc": key, "_id": {"$ne": user_id}}, {"_id": 1})]
        if stale:
            self.users.update_many({"_id": {"$in": stale}, "username_lc": key},
                                   {"$set": {"username": "", "username_lc": ""}})
        return stale

    def _set(self, user_id: int, fields: dict, query: dict | None = None) -> int:
        changed = self.users.update_one({"_id": user_id, **(query or {})}, {"$set": fields}).modified_count
        self.store.users_changed([user_id])
        return changed

    def update_profile(self, user_id: int, username: str, first_name: str, last_name: str,
                       language_code: str, is_premium: bool) -> None:
        self._set(user_id, {"username": username, "username_lc": username_key(username), "first_name": first_name,
                            "last_name": last_name, "language_code": language_code, "is_premium": bool(is_premium)})
        self.store.users_changed(self._release_username(user_id, username))

    def set_language(self, user_id: int, language_code: str) -> None:
        self._set(user_id, {"language_code": language_code})

    def set_referral_code(self, user_id: int, code: str) -> bool:
        try:
            return self._set(user_id, {"referral_code": code, "referral_code_locked": True},
                             {"referral_code_locked": False}) == 1
        except DuplicateKeyError as exc:
            raise DuplicateError(f"referral code {code!r} is taken") from exc

    def set_captcha(self, user_id: int, passed: bool, state: str = "") -> None:
        self._set(user_id, {"captcha_passed": bool(passed), "captcha_state": state})

    def set_wallet(self, user_id: int, address: str) -> None:
        try:
            before = self.users.find_one_and_update({"_id": user_id}, {"$set": {"wallet_address": address}},
                                                    {"wallet_address": 1}, return_document=ReturnDocument.BEFORE)
        except DuplicateKeyError as exc:
            raise DuplicateError(f"wallet {address} belongs to another user") from exc
        if before and before.get("wallet_address") and before["wallet_address"] != address:
            self.users.update_one({"_id": user_id}, {"$set": {"previous_wallet": before["wallet_address"]}})
        self.store.users_changed([user_id])

    def ban(self, user_id: int, reason: str, until: float | None = None) -> None:
        self._set(user_id, {"banned": True, "ban_reason": reason, "banned_until": until})

    def unban(self, user_id: int) -> None:
        self._set(user_id, {"banned": False, "ban_reason": "", "banned_until": None})

    def set_blocked_bot(self, user_id: int, blocked: bool) -> None:
        self._set(user_id, {"blocked_bot": bool(blocked)})

    def touch_many(self, last_active: dict[int, float]) -> None:
        if last_active:
            self.users.bulk_write([UpdateOne({"_id": uid}, {"$max": {"last_active_at": at}})
                                   for uid, at in last_active.items()], ordered=False)

    def count(self) -> int:
        return self.reports.estimated_document_count()

    def count_active_since(self, since: float) -> int:
        return self.reports.count_documents({"last_active_at": {"$gte": since}})

    def count_registered_since(self, since: float) -> int:
        return self.reports.count_documents({"registered_at": {"$gte": since}})

    def _top(self, field: str, limit: int) -> list[User]:
        return [to_record(User, d) for d in self.reports.find({}, HIDDEN).sort([(field, -1), ("_id", 1)]).limit(limit)]

    def top_by_total_earned(self, limit: int = 10) -> list[User]:
        return self._top("total_earned", limit)

    def top_by_referrals(self, limit: int = 10) -> list[User]:
        return self._top("referral_count", limit)

    def _rank(self, field: str, user_id: int, max_rank: int | None) -> int | None:
        doc = self.users.find_one({"_id": user_id}, {field: 1})
        if doc is None:
            return None
        limit = {} if max_rank is None else {"limit": max_rank}
        return 1 + self.reports.count_documents({field: {"$gt": doc[field]}}, **limit)

    def rank_by_total_earned(self, user_id: int, max_rank: int | None = None) -> int | None:
        return self._rank("total_earned", user_id, max_rank)

    def rank_by_referrals(self, user_id: int, max_rank: int | None = None) -> int | None:
        return self._rank("referral_count", user_id, max_rank)

    def iter_all(self, batch_size: int = 1000) -> Iterator[User]:
        query: dict = {}
        while True:
            docs = list(self.users.find(query, HIDDEN).sort("_id", 1).limit(batch_size))
            yield from (to_record(User, d) for d in docs)
            if len(docs) < batch_size:
                return
            query = {"_id": {"$gt": docs[-1]["_id"]}}


class MongoReferrals(ReferralRepository):
    """Referrals on MongoDB (`_id` = referred user id, so attribution is unique by construction)."""

    def __init__(self, store: MongoStoreView) -> None:
        self.store = store
        self.referrals = store.money["referrals"]
        self.users = store.plain["users"]

    def record(self, referrer_id: int, referred_id: int, at: float | None = None) -> bool:
        if referrer_id == referred_id:
            return False
        referrer = self.users.find_one({"_id": referrer_id}, {"referred_by": 1})
        if referrer is not None and referrer.get("referred_by") == referred_id:
            return False
        try:
            self.referrals.insert_one(to_doc(Referral(referred_id, referrer_id, at or now()), "referred_id"))
        except DuplicateKeyError:
            return False
        self.users.update_one({"_id": referred_id, "referred_by": None}, {"$set": {"referred_by": referrer_id}})
        self.store.users_changed([referred_id])
        return True

    def get(self, referred_id: int) -> Referral | None:
        return to_record(Referral, self.referrals.find_one({"_id": referred_id}), "referred_id")

    def list_by_referrer(self, referrer_id: int, limit: int = 20, offset: int = 0) -> list[Referral]:
        cursor = self.referrals.find({"referrer_id": referrer_id}).sort([("created_at", -1), ("_id", -1)])
        return [to_record(Referral, d, "referred_id") for d in page(cursor, limit, offset)]

    def count_by_referrer(self, referrer_id: int) -> int:
        return self.referrals.count_documents({"referrer_id": referrer_id})

    def count_active_since(self, referrer_id: int, since: float) -> int:
        return self.users.count_documents({"referred_by": referrer_id, "captcha_passed": True,
                                           "last_active_at": {"$gte": since}})

    def credit_bonuses(self, items: list[tuple[int, int, int]]) -> list[bool]:
        open_ids = {d["_id"]: d["referrer_id"] for d in self.referrals.find(
            {"_id": {"$in": [i[0] for i in items]}, "bonus_credited": False}, {"referrer_id": 1})}
        paid, settled, entries = [], [], []
        for referred_id, referrer_bonus, welcome_bonus in items:
            referrer_id = open_ids.pop(referred_id, None)   # pop: a duplicate in the batch pays once
            if referrer_id is None:
                paid.append(False)
                continue
            # keyed credits: a retry after a crash (before the flag below was set) pays nothing twice
            entry = self.store.money_ops.apply(referrer_id, referrer_bonus, "referral", str(referred_id),
                                               key=f"referral:{referred_id}", extra_inc={"referral_count": 1})
            entries.append(entry)
            if welcome_bonus:
                entries.append(self.store.money_ops.apply(referred_id, welcome_bonus, "referral_welcome",
                                                          str(referrer_id), key=f"welcome:{referred_id}"))
            paid.append(isinstance(entry, dict))
            if isinstance(entry, dict) or entry is ALREADY_APPLIED:
                settled.append(referred_id)
        self.store.money_ops.settle(entries)
        if settled:
            self.referrals.update_many({"_id": {"$in": settled}}, {"$set": {"bonus_credited": True}})
        self.store.users_changed([e["user_id"] for e in entries if isinstance(e, dict)])
        return paid
