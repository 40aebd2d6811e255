"""MongoDB tasks and task submissions.

An approval is a status flip (one winner), then the reward as a keyed credit, then `paid: true`.
A crash in between leaves an approved, unpaid submission that `repair_unpaid` pays exactly once.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from storage.base import SubmissionRepository, TaskRepository, credited_balance, reward_key
from storage.mongo.documents import page, to_doc, to_record
from storage.mongo.money import STALE_S, MongoStoreView
from storage.records import DuplicateError, Submission, Task, new_id, now


class MongoTasks(TaskRepository):
    """Task definitions on MongoDB."""

    def __init__(self, store: MongoStoreView) -> None:
        self.tasks = store.plain["tasks"]

    def create(self, task: Task) -> Task:
        task = dataclasses.replace(task, created_at=task.created_at or now())
        try:
            self.tasks.insert_one(to_doc(task))
        except DuplicateKeyError as exc:
            raise DuplicateError(f"task {task.id!r} exists") from exc
        return task

    def seed(self, tasks: Iterable[Task]) -> int:
        stamp, added = now(), 0
        for task in tasks:
            doc = to_doc(dataclasses.replace(task, created_at=task.created_at or stamp))
            added += self.tasks.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True).upserted_id is not None
        return added

    def update(self, task_id: str, **changes: Any) -> Task | None:
        unknown = set(changes) - self.EDITABLE
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        if changes:
            self.tasks.update_one({"_id": task_id}, {"$set": changes})
        return self.get(task_id)

    def delete(self, task_id: str) -> bool:
        return self.tasks.delete_one({"_id": task_id}).deleted_count == 1

    def get(self, task_id: str) -> Task | None:
        return to_record(Task, self.tasks.find_one({"_id": task_id}))

    def list(self, active_only: bool = True) -> list[Task]:
        cursor = self.tasks.find({"active": True} if active_only else {})
        return [to_record(Task, d) for d in cursor.sort([("order", 1), ("created_at", 1), ("_id", 1)])]


class MongoSubmissions(SubmissionRepository):
    """Submissions and completions on MongoDB; (user_id, task_id) is a unique index."""

    def __init__(self, store: MongoStoreView) -> None:
        self.store = store
        self.subs = store.money["task_submissions"]

    def submit(self, user_id: int, task_id: str, proof: str, at: float | None = None) -> Submission | None:
        at = at or now()
        fresh = {"status": "pending", "proof": proof, "created_at": at, "reviewer_id": None, "reviewed_at": None}
        # resubmission is only allowed after a rejection: the filter makes the check and the change one step
        doc = self.subs.find_one_and_update({"user_id": user_id, "task_id": task_id, "status": "rejected"},
                                            {"$set": fresh}, return_document=ReturnDocument.AFTER)
        if doc is None:
            record = Submission(new_id(), user_id, task_id, "pending", proof, created_at=at)
            try:
                self.subs.insert_one(to_doc(record))
            except DuplicateKeyError:
                return None
            return record
        return to_record(Submission, doc)

    def complete(self, user_id: int, task_id: str, reward: int, cooldown_s: int = 0,
                 at: float | None = None) -> int | None:
        at = at or now()
        doc = None
        if cooldown_s > 0:
            doc = self.subs.find_one_and_update(
                {"user_id": user_id, "task_id": task_id, "status": "approved", "reviewed_at": {"$lte": at - cooldown_s}},
                {"$set": {"reviewed_at": at, "paid": False, "reward": reward}, "$inc": {"completions": 1}},
                return_document=ReturnDocument.AFTER)
        if doc is None:
            record = Submission(new_id(), user_id, task_id, "approved", created_at=at, reviewed_at=at, completions=1)
            try:
                self.subs.insert_one(to_doc(record, reward=reward))
            except DuplicateKeyError:
                return None   # done and cooling down, or proof awaiting review
            doc = to_doc(record, reward=reward)
        return self._pay(doc, reward)

    def _pay(self, doc: dict, reward: int) -> int:
        self.store.money_ops.move(doc["user_id"], reward, "task", doc["task_id"],
                                  key=reward_key(doc["user_id"], doc["task_id"], doc["completions"]))
        self.subs.update_one({"_id": doc["_id"], "completions": doc["completions"]}, {"$set": {"paid": True}})
        return credited_balance(doc["user_id"], self.store.points.balance(doc["user_id"]))

    def review(self, submission_id: str, approve: bool, reviewer_id: int | None, reward: int = 0,
               at: float | None = None) -> Submission | None:
        doc = self.subs.find_one_and_update(
            {"_id": submission_id, "status": "pending"},
            {"$set": {"status": "approved" if approve else "rejected", "reviewer_id": reviewer_id,
                      "reviewed_at": at or now(), "paid": False, "reward": reward},
             "$inc": {"completions": int(approve)}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            return None
        if approve:
            self._pay(doc, reward)
            doc["paid"] = True
        return to_record(Submission, doc)

    def repair_unpaid(self, older_than_s: float = STALE_S) -> int:
        """Pay approvals whose reward a crash interrupted (the reward is keyed: never paid twice)."""
        stuck = list(self.subs.find({"status": "approved", "paid": False,
                                     "reviewed_at": {"$lt": now() - older_than_s}}))
        for doc in stuck:
            task = self.store.tasks.get(doc["task_id"])
            self._pay(doc, doc.get("reward", task.reward if task else 0))
        return len(stuck)

    def get(self, submission_id: str) -> Submission | None:
        return to_record(Submission, self.subs.find_one({"_id": submission_id}))

    def get_for(self, user_id: int, task_id: str) -> Submission | None:
        return to_record(Submission, self.subs.find_one({"user_id": user_id, "task_id": task_id}))

    def list_pending(self, limit: int = 10, offset: int = 0) -> list[Submission]:
        cursor = self.subs.find({"status": "pending"}).sort([("created_at", 1), ("_id", 1)])
        return [to_record(Submission, d) for d in page(cursor, limit, offset)]

    def list_for_user(self, user_id: int) -> list[Submission]:
        cursor = self.subs.find({"user_id": user_id}).sort([("created_at", 1), ("_id", 1)])
        return [to_record(Submission, d) for d in cursor]

    def count_by_status(self) -> dict[str, int]:
        rows = self.store.reports["task_submissions"].aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        return {r["_id"]: r["n"] for r in rows}
