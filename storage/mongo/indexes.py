"""MongoDB indexes: each matches a query the repositories make; `ensure_indexes` is idempotent.

Unique values that may be unset (referral code, wallet) use partial indexes on `$type: string`, so
any number of users can lack one. The only TTL index is on a real date (`expires_at`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.database import Database

ASC, DESC = 1, -1
STRING = {"$type": "string"}
NUMBER = {"$type": "number"}

# (collection, name, keys, options)
INDEXES: list[tuple[str, str, list[tuple[str, int]], dict[str, Any]]] = [
    ("users", "username_lc", [("username_lc", ASC)], {}),
    ("users", "referral_code_unique", [("referral_code", ASC)],
     {"unique": True, "partialFilterExpression": {"referral_code": STRING}}),
    ("users", "wallet_address_unique", [("wallet_address", ASC)],
     {"unique": True, "partialFilterExpression": {"wallet_address": STRING}}),
    ("users", "referred_by_registered", [("referred_by", ASC), ("registered_at", DESC)],
     {"partialFilterExpression": {"referred_by": NUMBER}}),
    ("users", "referred_by_active", [("referred_by", ASC), ("last_active_at", DESC)],
     {"partialFilterExpression": {"referred_by": NUMBER}}),
    ("users", "total_earned_leaderboard", [("total_earned", DESC), ("_id", ASC)], {}),
    ("users", "referral_count_leaderboard", [("referral_count", DESC), ("_id", ASC)], {}),
    ("users", "points_leaderboard", [("points", DESC), ("_id", ASC)], {}),
    ("users", "last_active_at", [("last_active_at", DESC)], {}),
    ("users", "registered_at", [("registered_at", DESC)], {}),
    # repair's scan for ledger entries a crashed writer left behind (multikey; empty arrays stay out)
    ("users", "pending_created_at", [("pending.created_at", ASC)], {}),
    ("referrals", "referrer_created", [("referrer_id", ASC), ("created_at", DESC)], {}),
    ("tasks", "active_order", [("active", ASC), ("order", ASC)], {}),
    ("task_submissions", "user_task_unique", [("user_id", ASC), ("task_id", ASC)], {"unique": True}),
    ("task_submissions", "status_created", [("status", ASC), ("created_at", ASC)], {}),
    ("point_transactions", "user_created", [("user_id", ASC), ("created_at", DESC)], {}),
    ("transfers", "sender_created", [("sender_id", ASC), ("created_at", DESC)], {}),
    ("transfers", "receiver_created", [("receiver_id", ASC), ("created_at", DESC)], {}),
    ("withdrawals", "user_created", [("user_id", ASC), ("created_at", DESC)], {}),
    ("withdrawals", "status_created", [("status", ASC), ("created_at", ASC)], {}),
    ("device_fingerprints", "hash_user_unique", [("fingerprint_hash", ASC), ("user_id", ASC)], {"unique": True}),
    ("device_fingerprints", "user_updated", [("user_id", ASC), ("updated_at", DESC)], {}),
    ("device_fingerprints", "expires_ttl", [("expires_at", ASC)], {"expireAfterSeconds": 0}),
    ("tickets", "user_category_created", [("user_id", ASC), ("category", ASC), ("created_at", DESC)], {}),
    ("tickets", "status_created", [("status", ASC), ("created_at", ASC)], {}),
    ("claims", "user_nonce_unique", [("user_id", ASC), ("nonce", DESC)], {"unique": True}),
    ("broadcasts", "status_created", [("status", ASC), ("created_at", DESC)], {}),
    ("broadcasts", "created", [("created_at", DESC)], {}),
    ("broadcast_recipients", "broadcast_status_user", [("_id.b", ASC), ("status", ASC), ("_id.u", ASC)], {}),
    ("audit", "admin_newest", [("admin_id", ASC), ("_id", DESC)], {}),
    ("audit", "action_newest", [("action", ASC), ("_id", DESC)], {}),
]

COLLECTIONS = ["users", "referrals", "tasks", "task_submissions", "point_transactions", "transfers",
               "withdrawals", "device_fingerprints", "tickets", "ticket_gates", "settings", "claims",
               "broadcasts", "broadcast_recipients", "admin_roles", "audit"]


def ensure_indexes(db: Database[Any]) -> list[str]:
    """Create missing collections and indexes; returns what was created (empty when all existed)."""
    created: list[str] = []
    existing_collections = set(db.list_collection_names())
    for name in COLLECTIONS:
        if name not in existing_collections:
            db.create_collection(name)
            created.append(f"collection {name}")
    for collection, name, keys, options in INDEXES:
        if name not in db[collection].index_information():
            db[collection].create_index(keys, name=name, **options)
            created.append(f"index {collection}.{name}")
    return created


def index_stats(db: Database[Any]) -> dict[str, Any]:
    """Counts per collection and, per index, the operations that used it since the server started."""
    counts = {name: db[name].estimated_document_count() for name in COLLECTIONS}
    indexes = []
    for name in COLLECTIONS:
        usage = _usage(db[name])
        for index, info in db[name].index_information().items():
            keys = ", ".join(f"{field} {direction}" for field, direction in info["key"])
            indexes.append({"collection": name, "name": index, "keys": keys, "ops": usage.get(index)})
    return {"counts": counts, "indexes": indexes}


def _usage(collection: Collection[Any]) -> dict[str, int]:
    try:
        return {row["name"]: int(row["accesses"]["ops"]) for row in collection.aggregate([{"$indexStats": {}}])}
    except (OperationFailure, NotImplementedError):
        return {}   # mongomock, or a user without the indexStats privilege: usage unknown
