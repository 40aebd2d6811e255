"""The MongoDB store (production): the client is built in the worker after fork, never inherited.

Three views of each collection: `plain` (the URL's write concern, reads on the primary), `money`
(w=majority, reads on the primary: points, ledger, transfers, withdrawals, referrals, submissions)
and `reports` (secondaryPreferred, used only for leaderboards and statistics, where a slightly
stale answer is fine). Whatever readPreference or w a replica-set URL names, money is majority-
written and read where it was written; retryWrites is always on (an election mid-write is retried). Every collection call
counts as one round trip. Also holds the small repositories (tickets, fingerprints, settings).
"""
from __future__ import annotations

from typing import Any

from pymongo import MongoClient, ReadPreference, WriteConcern
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from botrunner.metrics.mongo_pool import PoolMetrics
from storage.base import ClaimRepository, FingerprintRepository, SettingsRepository, Store, TicketRepository
from storage.instrumentation import RoundTrips
from storage.mongo import imports as mongo_imports
from storage.mongo.admin import MongoAdminRoles, MongoAudit
from storage.mongo.admin_views import MongoAdminViews
from storage.mongo.broadcasts import MongoBroadcasts
from storage.mongo.documents import from_date, page, to_date, to_doc, to_record
from storage.mongo.indexes import COLLECTIONS, ensure_indexes, index_stats
from storage.mongo.money import MongoMoney
from storage.mongo.points import MongoPoints
from storage.mongo.tasks import MongoSubmissions, MongoTasks
from storage.mongo.users import MongoReferrals, MongoUsers
from storage.records import Fingerprint, Ticket, new_id, now

# collection methods that talk to the server (cursor getMore batches are not counted)
_ROUND_TRIPS = {"find", "find_one", "insert_one", "insert_many", "update_one", "update_many", "delete_one",
                "delete_many", "find_one_and_update", "bulk_write", "aggregate", "count_documents",
                "estimated_document_count", "replace_one", "distinct"}


def connect(url: str, max_pool_size: int = 200, min_pool_size: int = 20, timeout_ms: int = 5000) -> MongoClient:
    """A MongoClient for this process (call after fork: PyMongo clients are not fork-safe)."""
    return MongoClient(url, maxPoolSize=max_pool_size, minPoolSize=min_pool_size, retryWrites=True,
                       connectTimeoutMS=timeout_ms, serverSelectionTimeoutMS=timeout_ms,
                       socketTimeoutMS=max(timeout_ms, 30000), appname="botrunner",
                       event_listeners=[PoolMetrics(max_pool_size)])


class Counted:
    """A collection whose server calls add to the store's round-trip counter."""

    def __init__(self, collection: Collection[Any], round_trips: RoundTrips) -> None:
        self._collection = collection
        self._round_trips = round_trips

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if name not in _ROUND_TRIPS:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._round_trips.timed(name):
                return attr(*args, **kwargs)
        return call


class MongoStore(Store):
    """Every repository over database `db_name` of `client` (PyMongo or mongomock)."""

    backend = "mongodb"
    points: MongoPoints              # repair() needs the Mongo-only repair methods
    submissions: MongoSubmissions

    def __init__(self, client: MongoClient[Any], db_name: str) -> None:
        super().__init__()
        self.client = client
        self.db = client[db_name]
        majority, primary = WriteConcern("majority", wtimeout=10000), ReadPreference.PRIMARY
        # a URL's readPreference=secondary must not move these reads off the primary: only `reports` may lag
        self.plain = {n: Counted(self.db[n].with_options(read_preference=primary), self.round_trips)
                      for n in COLLECTIONS}
        self.money = {n: Counted(self.db[n].with_options(write_concern=majority, read_preference=primary),
                                 self.round_trips) for n in COLLECTIONS}
        self.reports = {n: Counted(self.db[n].with_options(read_preference=ReadPreference.SECONDARY_PREFERRED),
                                   self.round_trips) for n in COLLECTIONS}
        self.money_ops = MongoMoney(self)
        self.users = MongoUsers(self)
        self.referrals = MongoReferrals(self)
        self.tasks = MongoTasks(self)
        self.submissions = MongoSubmissions(self)
        self.points = MongoPoints(self)
        self.tickets = MongoTickets(self)
        self.fingerprints = MongoFingerprints(self)
        self.settings = MongoSettings(self)
        self.claims = MongoClaims(self)
        self.broadcasts = MongoBroadcasts(self)
        self.admin_roles = MongoAdminRoles(self)
        self.admin_views = MongoAdminViews(self)
        self.audit = MongoAudit(self)

    def init_schema(self) -> list[str]:
        return ensure_indexes(self.db)

    def stats(self) -> dict[str, Any]:
        return index_stats(self.db)

    def repair(self, older_than_s: float | None = None) -> int:
        kwargs = {} if older_than_s is None else {"older_than_s": older_than_s}
        return (self.money_ops.repair(**kwargs) + self.points.repair_refunds(**kwargs)
                + self.submissions.repair_unpaid(**kwargs))

    def ping(self) -> None:
        self.client.admin.command("ping")

    def import_records(self, table: str, records: list[Any]) -> tuple[int, list[tuple[Any, str]]]:
        inserted, rejected = mongo_imports.import_records(self, table, records)
        if table == "users":
            self.users_changed(r.id for r in records)
        return inserted, rejected

    def close(self) -> None:
        self.client.close()


class MongoTickets(TicketRepository):
    """Support tickets; the once-per-interval rule is a gate document per (user, category)."""

    def __init__(self, store: MongoStore) -> None:
        self.tickets = store.plain["tickets"]
        self.gates = store.plain["ticket_gates"]

    def open(self, user_id: int, category: str, text: str, min_interval_s: int = 86400,
             at: float | None = None) -> Ticket | None:
        ticket = Ticket(new_id(), user_id, category, text, "open", at or now())
        try:   # matches only when the last ticket is old enough; otherwise the upsert collides on _id
            self.gates.update_one({"_id": f"{user_id}:{category}", "last": {"$lte": ticket.created_at - min_interval_s}},
                                  {"$set": {"last": ticket.created_at}}, upsert=True)
        except DuplicateKeyError:
            return None
        self.tickets.insert_one(to_doc(ticket))
        return ticket

    def get(self, ticket_id: str) -> Ticket | None:
        return to_record(Ticket, self.tickets.find_one({"_id": ticket_id}))

    def list_open(self, limit: int = 20, offset: int = 0) -> list[Ticket]:
        cursor = self.tickets.find({"status": "open"}).sort([("created_at", 1), ("_id", 1)])
        return [to_record(Ticket, d) for d in page(cursor, limit, offset)]

    def count_open(self) -> int:
        return self.tickets.count_documents({"status": "open"})

    def list_for_user(self, user_id: int, limit: int = 10) -> list[Ticket]:
        cursor = self.tickets.find({"user_id": user_id}).sort([("created_at", -1), ("_id", 1)]).limit(limit)
        return [to_record(Ticket, d) for d in cursor]

    def reply(self, ticket_id: str, admin_id: int, text: str) -> bool:
        return self.tickets.update_one({"_id": ticket_id, "status": {"$ne": "closed"}}, {"$set": {
            "status": "answered", "reply": text, "replied_by": admin_id, "replied_at": now()}}).matched_count == 1

    def close(self, ticket_id: str) -> bool:
        return self.tickets.update_one({"_id": ticket_id, "status": {"$ne": "closed"}},
                                       {"$set": {"status": "closed"}}).modified_count == 1


class MongoFingerprints(FingerprintRepository):
    """Device fingerprints; `expires_at` is a BSON date under a TTL index, and reads filter on it too
    (the TTL monitor runs only once a minute)."""

    def __init__(self, store: MongoStore) -> None:
        self.fps = store.plain["device_fingerprints"]

    def record(self, user_id: int, fingerprint_hash: str, ip_hash: str = "", ttl_s: int = 90 * 86400,
               at: float | None = None) -> None:
        at = at or now()
        query = {"fingerprint_hash": fingerprint_hash, "user_id": user_id}
        update = {"$set": {"ip_hash": ip_hash, "updated_at": at, "expires_at": to_date(at + ttl_s)},
                  "$setOnInsert": {"created_at": at}}
        try:
            self.fps.update_one(query, update, upsert=True)
        except DuplicateKeyError:   # two upserts of the same new pair raced: the loser's update now matches
            self.fps.update_one(query, update)

    def users_with(self, fingerprint_hash: str) -> list[int]:
        cursor = self.fps.find({"fingerprint_hash": fingerprint_hash, "expires_at": {"$gt": to_date(now())}},
                               {"user_id": 1}).sort("user_id", 1)
        return [d["user_id"] for d in cursor]

    def for_user(self, user_id: int) -> list[Fingerprint]:
        cursor = self.fps.find({"user_id": user_id, "expires_at": {"$gt": to_date(now())}}).sort("updated_at", -1)
        return [self._row(d) for d in cursor]

    def holders(self, fingerprint_hash: str) -> list[Fingerprint]:
        cursor = self.fps.find({"fingerprint_hash": fingerprint_hash, "expires_at": {"$gt": to_date(now())}})
        return [self._row(d) for d in cursor.sort([("created_at", 1), ("user_id", 1)])]

    def forget(self, user_id: int, keep: str | None = None) -> int:
        return self.fps.delete_many({"user_id": user_id, "fingerprint_hash": {"$ne": keep or ""}}).deleted_count

    @staticmethod
    def _row(d: dict) -> Fingerprint:
        return Fingerprint(d["user_id"], d["fingerprint_hash"], d["ip_hash"], d["created_at"], d["updated_at"],
                           from_date(d["expires_at"]))

    def purge_expired(self, at: float | None = None) -> int:
        return self.fps.delete_many({"expires_at": {"$lte": to_date(at or now())}}).deleted_count


class MongoClaims(ClaimRepository):
    """Claim nonces: `_id` = withdrawal id; the unique (user_id, nonce) index makes two claims racing
    for the same next nonce collide, and the loser takes the one after."""

    def __init__(self, store: MongoStore) -> None:
        self.claims = store.money["claims"]

    def reserve(self, withdrawal_id: str, user_id: int) -> int:
        while True:
            doc = self.claims.find_one({"_id": withdrawal_id})
            if doc is not None:
                return doc["nonce"]
            nonce = self.last_nonce(user_id) + 1
            try:
                self.claims.insert_one({"_id": withdrawal_id, "user_id": user_id, "nonce": nonce, "created_at": now()})
                return nonce
            except DuplicateKeyError:
                continue            # this withdrawal was reserved meanwhile, or another took the nonce

    def last_nonce(self, user_id: int) -> int:
        docs = list(self.claims.find({"user_id": user_id}, {"nonce": 1}).sort("nonce", -1).limit(1))
        return docs[0]["nonce"] if docs else 0

    def import_last_nonce(self, user_id: int, nonce: int) -> bool:
        if self.claims.find_one({"user_id": user_id}, {"_id": 1}) is not None:
            return False
        try:
            self.claims.insert_one({"_id": f"imported:{user_id}", "user_id": user_id, "nonce": nonce,
                                    "created_at": now()})
        except DuplicateKeyError:
            return False
        return True


class MongoSettings(SettingsRepository):
    """Runtime settings, one document per key."""

    def __init__(self, store: MongoStore) -> None:
        self.settings = store.plain["settings"]

    def get(self, key: str, default: Any = None) -> Any:
        doc = self.settings.find_one({"_id": key})
        return default if doc is None else doc["value"]

    def set(self, key: str, value: Any) -> None:
        self.settings.update_one({"_id": key}, {"$set": {"value": value}}, upsert=True)

    def delete(self, key: str) -> None:
        self.settings.delete_one({"_id": key})

    def all(self) -> dict[str, Any]:
        return {d["_id"]: d["value"] for d in self.settings.find().sort("_id", 1)}
