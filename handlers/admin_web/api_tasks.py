"""Tasks: GET /admin/api/tasks [viewer] (every task, in the order users see them); POST [admin] creates
one; PATCH /admin/api/tasks/{id} [admin] changes fields (enable/disable with "active", the reward with
"reward"); DELETE [admin] removes one (not a default task: the worker's start would seed it again, so
those are disabled instead); POST /admin/api/tasks/reorder [admin] {"ids": [...every task id...]}.
Fields are validated as /addtask validates them (kinds, proof patterns that cannot hang the matcher).
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from handlers import proof_patterns
from handlers.admin_web import params
from handlers.admin_web.api import AdminRequest, ApiError, invalid, route
from handlers.task_catalog import default_tasks
from handlers.tasks import KINDS
from storage.records import DuplicateError, Task, new_id

MAX_REWARD = 10**9
TASK_ID = re.compile(r"[a-z0-9_]{1,32}")


def _kind(body: dict[str, Any], field: str) -> str:
    if body.get(field) not in KINDS:
        raise invalid(field, "one of " + ", ".join(KINDS))
    return str(body[field])


def _pattern(body: dict[str, Any], field: str) -> str:
    pattern = params.text(body, field, 200, required=False)
    refused = proof_patterns.check(pattern) if pattern else None
    if refused:
        raise invalid(field, refused[:200])
    return pattern


#: field -> check(body, field) for the editable fields of the API
CHECKS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "kind": _kind,
    "title": lambda b, f: params.text(b, f, 80),
    "reward": lambda b, f: params.whole(b, f, 0, MAX_REWARD),
    "target": lambda b, f: params.text(b, f, 200, required=False),
    "proof_pattern": _pattern,
    "auto_approve": lambda b, f: params.flag(b, f),
    "cooldown_s": lambda b, f: params.whole(b, f, 0, 30 * 86400),
    "active": lambda b, f: params.flag(b, f),
    "order": lambda b, f: params.whole(b, f, 0, 10**6),
}


def _fields(body: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    unknown = set(body) - set(CHECKS) - {"id"}
    if unknown:
        raise invalid(sorted(unknown)[0], "not a task field (" + ", ".join(CHECKS) + ")")
    missing = [f for f in required if f not in body]
    if missing:
        raise invalid(missing[0], "required")
    return {field: check(body, field) for field, check in CHECKS.items() if field in body}


def _task(req: AdminRequest, task_id: str) -> Task:
    task = req.store.tasks.get(task_id[:32])
    if task is None:
        raise ApiError(404, f"no task {task_id[:32]}")
    return task


@route("GET", "/tasks", role="viewer")
async def tasks(req: AdminRequest) -> dict[str, Any]:
    rows = await req.call(req.store.tasks.list, False)
    return {"items": [dataclasses.asdict(t) for t in rows], "next": None}


@route("POST", "/tasks", role="admin")
async def create(req: AdminRequest) -> dict[str, Any]:
    body = await req.body()
    task_id = body.get("id", new_id())
    if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id):
        raise invalid("id", "1-32 of a-z 0-9 _")
    fields = _fields(body, ("kind", "title", "reward"))
    if fields["kind"] == "daily" and "cooldown_s" not in fields:
        fields["cooldown_s"] = req.settings.daily_task_reset_interval_s

    def change() -> Task:
        try:
            created = req.store.tasks.create(Task(task_id, **{"order": 100, **fields}))
        except DuplicateError:
            raise ApiError(409, f"a task {task_id} exists") from None
        req.audited("task.create", f"task:{task_id}", None, created)
        return created
    return {"task": dataclasses.asdict(await req.call(change))}


@route("PATCH", "/tasks/{id}", role="admin")
async def update(req: AdminRequest) -> dict[str, Any]:
    body = await req.body()
    fields = _fields(body)
    if not fields:
        raise ApiError(400, "nothing to change")

    def change() -> Task:
        before = _task(req, req.param("id"))
        after = req.store.tasks.update(before.id, **fields) or before
        req.audited("task.update", f"task:{before.id}", {k: getattr(before, k) for k in fields},
                    {k: getattr(after, k) for k in fields})
        return after
    return {"task": dataclasses.asdict(await req.call(change))}


@route("DELETE", "/tasks/{id}", role="admin")
async def delete(req: AdminRequest) -> dict[str, Any]:
    defaults = {t.id for t in default_tasks(req.settings)}

    def change() -> Task:
        task = _task(req, req.param("id"))
        if task.id in defaults:
            raise ApiError(409, f"{task.id} is a default task (seeded at every start): disable it instead")
        req.store.tasks.delete(task.id)
        req.audited("task.delete", f"task:{task.id}", task, None)
        return task
    return {"task": dataclasses.asdict(await req.call(change)), "deleted": True}


@route("POST", "/tasks/reorder", role="admin")
async def reorder(req: AdminRequest) -> dict[str, Any]:
    ids = (await req.body()).get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
        raise invalid("ids", "a list of distinct task ids")

    def change() -> list[Task]:
        current = req.store.tasks.list(False)
        if set(ids) != {t.id for t in current}:
            raise invalid("ids", "every task id exactly once (GET /admin/api/tasks lists them)")
        for position, task_id in enumerate(ids):
            req.store.tasks.update(task_id, order=position)
        req.audited("task.reorder", "tasks", [t.id for t in current], ids)
        return req.store.tasks.list(False)
    return {"items": [dataclasses.asdict(t) for t in await req.call(change)]}
