"""MongoDB broadcasts. Claiming a page is two writes (insert the pending rows, then move the cursor):
a crash between them leaves rows the next claim finds existing and never sends. Counters are
`$inc`ed after the outcomes; a crash between those is repaired by `settle_in_doubt`, which
recomputes them from the rows."""
from __future__ import annotations

from typing import Any

from pymongo.errors import BulkWriteError

from storage.base import BroadcastRepository
from storage.broadcast_records import (
    COUNTERS,
    DAY_S,
    TRANSITIONS,
    Broadcast,
    Message,
    Recipient,
    Segment,
    message_from_json,
    message_to_json,
)
from storage.mongo.money import MongoStoreView
from storage.records import from_mapping, new_id, now

DUPLICATE_KEY = 11000


def segment_filter(segment: Segment, at: float) -> dict[str, Any]:
    """The users filter of a segment."""
    query: dict[str, Any] = {"blocked_bot": {"$ne": True}, "banned": {"$ne": True}}
    if segment.verified:
        query["captcha_passed"] = True
    if segment.premium:
        query["is_premium"] = True
    if segment.with_wallet:
        query["wallet_address"] = {"$type": "string", "$ne": ""}
    if segment.with_referrals:
        query["referral_count"] = {"$gte": 1}
    points: dict[str, int] = {}
    if segment.points_min is not None:
        points["$gte"] = segment.points_min
    if segment.points_max is not None:
        points["$lte"] = segment.points_max
    if points:
        query["points"] = points
    if segment.active_days is not None:
        query["last_active_at"] = {"$gte": at - segment.active_days * DAY_S}
    if segment.language:
        query["language_code"] = segment.language
    if segment.ids:
        query["_id"] = {"$in": list(segment.ids)}
    return query


def _record(doc: dict[str, Any]) -> Broadcast:
    data = dict(doc)
    data["id"] = data.pop("_id")
    data["message"] = message_from_json(data["message"])
    data["segment"] = Segment.from_json(data["segment"])
    return from_mapping(Broadcast, data)


def _recipient(doc: dict[str, Any]) -> Recipient:
    return from_mapping(Recipient, {**doc, "broadcast_id": doc["_id"]["b"], "user_id": doc["_id"]["u"]})


class MongoBroadcasts(BroadcastRepository):
    """Recipient rows have `_id: {b: broadcast id, u: user id}`: the unique key is the primary key."""

    def __init__(self, store: MongoStoreView) -> None:
        self.broadcasts = store.plain["broadcasts"]
        self.rows = store.plain["broadcast_recipients"]
        self.users = store.plain["users"]

    def create(self, message: Message, segment: Segment, created_by: int, at: float | None = None) -> Broadcast:
        at = at or now()
        doc = {"_id": new_id(), "message": message_to_json(message), "segment": segment.to_json(),
               "created_by": created_by, "status": "draft", "total": self.count_segment(segment),
               **dict.fromkeys(COUNTERS, 0), "retrying": 0, "cursor": 0, "created_at": at, "started_at": None,
               "finished_at": None, "updated_at": at}
        self.broadcasts.insert_one(doc)
        return _record(doc)

    def get(self, broadcast_id: str) -> Broadcast | None:
        doc = self.broadcasts.find_one({"_id": broadcast_id})
        return _record(doc) if doc else None

    def history(self, limit: int = 20, offset: int = 0, status: str | None = None) -> list[Broadcast]:
        query = {"status": status} if status else {}
        docs = self.broadcasts.find(query).sort([("created_at", -1), ("_id", 1)]).skip(offset).limit(limit)
        return [_record(d) for d in docs]

    def history_page(self, before: tuple[float, str] | None, limit: int) -> list[Broadcast]:
        query: dict[str, Any] = {}
        if before:
            query = {"$or": [{"created_at": {"$lt": before[0]}}, {"created_at": before[0], "_id": {"$lt": before[1]}}]}
        docs = self.broadcasts.find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit)
        return [_record(d) for d in docs]

    def set_status(self, broadcast_id: str, status: str, at: float | None = None) -> Broadcast | None:
        at = at or now()
        sources = [s for s, targets in TRANSITIONS.items() if status in targets]
        current = self.get(broadcast_id)
        if not sources or current is None or current.status not in sources:
            return None
        sets: dict[str, Any] = {"status": status, "updated_at": at}
        if status == "running" and current.started_at is None:
            sets.update(started_at=at, total=self.count_segment(current.segment))
        if status in ("done", "cancelled"):
            sets["finished_at"] = at
        # conditional on the status read: a concurrent change wins and this one reports None
        result = self.broadcasts.update_one({"_id": broadcast_id, "status": current.status}, {"$set": sets})
        return self.get(broadcast_id) if result.modified_count == 1 else None

    def count_segment(self, segment: Segment) -> int:
        return self.users.count_documents(segment_filter(segment, now()))

    def claim_page(self, broadcast_id: str, limit: int, at: float | None = None) -> list[int] | None:
        at = at or now()
        current = self.get(broadcast_id)
        if current is None:
            return None
        query = {**segment_filter(current.segment, at)}
        query["_id"] = {**query.get("_id", {}), "$gt": current.cursor}
        ids = [d["_id"] for d in self.users.find(query, {"_id": 1}).sort("_id", 1).limit(limit)]
        if not ids:
            return None
        rows = [{"_id": {"b": broadcast_id, "u": i}, "status": "pending", "reason": "", "at": at, "tries": 0}
                for i in ids]
        fresh = set(ids)
        try:
            self.rows.insert_many(rows, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                fresh.discard(rows[error["index"]]["_id"]["u"])
        self.broadcasts.update_one({"_id": broadcast_id, "cursor": {"$lt": ids[-1]}},
                                   {"$set": {"cursor": ids[-1], "updated_at": at}})
        return [i for i in ids if i in fresh]

    def finish(self, broadcast_id: str, outcomes: list[tuple[int, str, str]], at: float | None = None) -> None:
        at = at or now()
        counts = dict.fromkeys(COUNTERS, 0)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for user_id, status, reason in outcomes:
            if status not in counts:
                raise ValueError(f"not a final recipient status: {status!r}")
            groups.setdefault((status, reason[:500]), []).append({"b": broadcast_id, "u": user_id})
        for (status, reason), keys in groups.items():      # one write per outcome (and failure reason)
            result = self.rows.update_many({"_id": {"$in": keys}, "status": "pending"},
                                           {"$set": {"status": status, "reason": reason, "at": at}})
            counts[status] += result.modified_count
        self.broadcasts.update_one({"_id": broadcast_id}, {"$inc": counts, "$set": {"updated_at": at}})

    def settle_in_doubt(self, broadcast_id: str, at: float | None = None) -> int:
        at = at or now()
        doubtful = self.rows.update_many({"_id.b": broadcast_id, "status": "pending"},
                                         {"$set": {"status": "skipped", "at": at,
                                                   "reason": "in doubt: its sender stopped mid-send"}})
        counts = {c: self.rows.count_documents({"_id.b": broadcast_id, "status": c}) for c in COUNTERS}
        counts["retrying"] = self.rows.count_documents({"_id.b": broadcast_id, "status": "retry"})
        self.broadcasts.update_one({"_id": broadcast_id}, {"$set": {**counts, "updated_at": at}})
        return doubtful.modified_count

    def defer(self, broadcast_id: str, rows: list[tuple[int, float, str]], at: float | None = None) -> int:
        at = at or now()
        deferred = sum(self.rows.update_one({"_id": {"b": broadcast_id, "u": user_id}, "status": "pending"},
                                            {"$set": {"status": "retry", "at": not_before, "reason": reason[:500]},
                                             "$inc": {"tries": 1}}).modified_count
                       for user_id, not_before, reason in rows)
        self.broadcasts.update_one({"_id": broadcast_id}, {"$inc": {"retrying": deferred}, "$set": {"updated_at": at}})
        return deferred

    def claim_retries(self, broadcast_id: str, limit: int, at: float | None = None) -> list[tuple[int, int]]:
        at = at or now()
        docs = self.rows.find({"_id.b": broadcast_id, "status": "retry", "at": {"$lte": at}}).sort("_id.u", 1)
        due = [(d["_id"]["u"], int(d.get("tries", 0))) for d in docs.limit(limit)]
        claimed = []
        for user_id, tries in due:          # conditional per row: only the owner claims, but never twice
            result = self.rows.update_one({"_id": {"b": broadcast_id, "u": user_id}, "status": "retry"},
                                          {"$set": {"status": "pending", "at": at}})
            if result.modified_count:
                claimed.append((user_id, tries))
        self.broadcasts.update_one({"_id": broadcast_id}, {"$inc": {"retrying": -len(claimed)},
                                                           "$set": {"updated_at": at}})
        return claimed

    def next_retry(self, broadcast_id: str) -> float | None:
        doc = self.rows.find_one({"_id.b": broadcast_id, "status": "retry"}, sort=[("at", 1)])
        return float(doc["at"]) if doc else None

    def recipient(self, broadcast_id: str, user_id: int) -> Recipient | None:
        doc = self.rows.find_one({"_id": {"b": broadcast_id, "u": user_id}})
        return _recipient(doc) if doc else None

    def recipients(self, broadcast_id: str, status: str, after: int = 0, limit: int = 100) -> list[Recipient]:
        docs = self.rows.find({"_id.b": broadcast_id, "status": status, "_id.u": {"$gt": after}}).sort("_id.u", 1)
        return [_recipient(d) for d in docs.limit(limit)]
