"""SQLite tasks and task submissions; a reward commits in the same transaction as its approval."""
from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable
from typing import Any

from storage.base import SubmissionRepository, TaskRepository, reward_key
from storage.records import DuplicateError, Submission, Task, from_mapping, new_id, now
from storage.sqlite.connection import SQLiteStoreView
from storage.sqlite.points import ALREADY_APPLIED, apply_move

TASK_COLUMNS = [f.name for f in dataclasses.fields(Task)]
_QUOTED = ", ".join(f'"{c}"' for c in TASK_COLUMNS)   # "order" is an SQL keyword
_INSERT_TASK = f"INSERT INTO tasks ({_QUOTED}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})"


class SQLiteTasks(TaskRepository):
    """Task definitions on SQLite."""

    def __init__(self, store: SQLiteStoreView) -> None:
        self.db = store.db

    def _row(self, task: Task) -> tuple:
        return tuple(getattr(task, c) for c in TASK_COLUMNS)

    def create(self, task: Task) -> Task:
        task = dataclasses.replace(task, created_at=task.created_at or now())
        try:
            self.db.execute(_INSERT_TASK, self._row(task))
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(f"task {task.id!r} exists") from exc
        return task

    def seed(self, tasks: Iterable[Task]) -> int:
        stamp = now()
        with self.db.transaction() as tx:
            return sum(tx.execute(_INSERT_TASK + " ON CONFLICT (id) DO NOTHING",
                                  self._row(dataclasses.replace(t, created_at=t.created_at or stamp))).rowcount
                       for t in tasks)

    def update(self, task_id: str, **changes: Any) -> Task | None:
        unknown = set(changes) - self.EDITABLE
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        if changes:
            assignments = ", ".join(f'"{name}" = ?' for name in changes)
            self.db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*changes.values(), task_id))
        return self.get(task_id)

    def delete(self, task_id: str) -> bool:
        return self.db.execute("DELETE FROM tasks WHERE id = ?", (task_id,)) == 1

    def get(self, task_id: str) -> Task | None:
        row = self.db.query_one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return from_mapping(Task, row) if row else None

    def list(self, active_only: bool = True) -> list[Task]:
        where = "WHERE active = 1 " if active_only else ""
        rows = self.db.query(f'SELECT * FROM tasks {where}ORDER BY "order", created_at, id')
        return [from_mapping(Task, r) for r in rows]


class SQLiteSubmissions(SubmissionRepository):
    """Submissions and completions on SQLite."""

    def __init__(self, store: SQLiteStoreView) -> None:
        self.store = store
        self.db = store.db

    def submit(self, user_id: int, task_id: str, proof: str, at: float | None = None) -> Submission | None:
        at = at or now()
        with self.db.transaction() as tx:
            row = tx.one("SELECT id, status FROM task_submissions WHERE user_id = ? AND task_id = ?", (user_id, task_id))
            if row is None:
                tx.execute("INSERT INTO task_submissions (id, user_id, task_id, status, proof, created_at) "
                           "VALUES (?, ?, ?, 'pending', ?, ?)", (new_id(), user_id, task_id, proof, at))
            elif row["status"] == "rejected":
                tx.execute("UPDATE task_submissions SET status = 'pending', proof = ?, created_at = ?, "
                           "reviewer_id = NULL, reviewed_at = NULL WHERE id = ?", (proof, at, row["id"]))
            else:
                return None
        return self.get_for(user_id, task_id)

    def complete(self, user_id: int, task_id: str, reward: int, cooldown_s: int = 0,
                 at: float | None = None) -> int | None:
        at = at or now()
        with self.db.transaction() as tx:
            row = tx.one("SELECT id, status, reviewed_at, completions FROM task_submissions "
                         "WHERE user_id = ? AND task_id = ?", (user_id, task_id))
            if row is None:
                tx.execute("INSERT INTO task_submissions (id, user_id, task_id, status, created_at, reviewed_at, "
                           "completions, paid) VALUES (?, ?, ?, 'approved', ?, ?, 1, 1)",
                           (new_id(), user_id, task_id, at, at))
                completion = 1
            elif row["status"] == "approved" and cooldown_s > 0 and row["reviewed_at"] <= at - cooldown_s:
                tx.execute("UPDATE task_submissions SET reviewed_at = ?, completions = completions + 1, paid = 1 "
                           "WHERE id = ?", (at, row["id"]))
                completion = row["completions"] + 1
            else:
                return None  # done (and still cooling down), or proof awaiting review
            balance = apply_move(tx, user_id, reward, "task", task_id, key=reward_key(user_id, task_id, completion))
        self.store.users_changed([user_id])
        if balance is ALREADY_APPLIED:     # the reward of this completion was paid before: report the balance
            return self.store.points.balance(user_id)
        return balance

    def review(self, submission_id: str, approve: bool, reviewer_id: int | None, reward: int = 0,
               at: float | None = None) -> Submission | None:
        with self.db.transaction() as tx:
            row = tx.one("UPDATE task_submissions SET status = ?, reviewer_id = ?, reviewed_at = ?, "
                         "completions = completions + ?, paid = ? WHERE id = ? AND status = 'pending' RETURNING *",
                         ("approved" if approve else "rejected", reviewer_id, at or now(), int(approve),
                          int(approve), submission_id))
            if row is None:
                return None
            if approve:
                apply_move(tx, row["user_id"], reward, "task", row["task_id"],
                           key=reward_key(row["user_id"], row["task_id"], row["completions"]))
        if approve:
            self.store.users_changed([row["user_id"]])
        return from_mapping(Submission, row)

    def get(self, submission_id: str) -> Submission | None:
        row = self.db.query_one("SELECT * FROM task_submissions WHERE id = ?", (submission_id,))
        return from_mapping(Submission, row) if row else None

    def get_for(self, user_id: int, task_id: str) -> Submission | None:
        row = self.db.query_one("SELECT * FROM task_submissions WHERE user_id = ? AND task_id = ?", (user_id, task_id))
        return from_mapping(Submission, row) if row else None

    def list_pending(self, limit: int = 10, offset: int = 0) -> list[Submission]:
        rows = self.db.query("SELECT * FROM task_submissions WHERE status = 'pending' ORDER BY created_at, id "
                             "LIMIT ? OFFSET ?", (limit, offset))
        return [from_mapping(Submission, r) for r in rows]

    def list_for_user(self, user_id: int) -> list[Submission]:
        rows = self.db.query("SELECT * FROM task_submissions WHERE user_id = ? ORDER BY created_at, id", (user_id,))
        return [from_mapping(Submission, r) for r in rows]

    def count_by_status(self) -> dict[str, int]:
        rows = self.db.query("SELECT status, COUNT(*) AS n FROM task_submissions GROUP BY status")
        return {r["status"]: r["n"] for r in rows}
