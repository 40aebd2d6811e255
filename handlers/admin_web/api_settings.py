"""Runtime settings (admin): the switches the bot's /setting and /maintenance change
(handlers.runtime.SWITCHES), stored in the database and read by every worker within seconds.

GET   /admin/api/settings -> {"items": [{"name", "value", "default", "help", "min", "max", "kind"}]}
PATCH /admin/api/settings {"name": value, ...}: every value is checked (kind and bounds, which are the
      configuration's own) before any is written; one audit row per changed setting ("setting.<name>").
"""
from __future__ import annotations

import dataclasses
from typing import Any

from botrunner.config.settings import Settings
from handlers.admin_web.api import AdminRequest, invalid, route
from handlers.runtime import SWITCHES, TASK_REWARDS, Runtime

MAX_TEXT = 500
#: bounds of the integer switches: those of their configuration variables (botrunner.config.settings)
BOUNDS = {"min_withdraw_points": (1, 10**12), "referral_bonus": (0, 1_000_000), "daily_bonus": (0, 1_000_000)}
FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _kind(name: str) -> str:
    default = FIELDS[SWITCHES[name]].default
    return "bool" if isinstance(default, bool) else "int" if isinstance(default, int) else "text"


def _current(rt: Runtime, name: str) -> Any:
    """The value now, read fresh (the Runtime's switch cache may be a few seconds old)."""
    if name in TASK_REWARDS:
        task = rt.store.tasks.get(TASK_REWARDS[name])
        return task.reward if task else getattr(rt.settings, SWITCHES[name])
    return rt.store.settings.get(name, getattr(rt.settings, SWITCHES[name]))


def _item(rt: Runtime, name: str) -> dict[str, Any]:
    field = FIELDS[SWITCHES[name]]
    lo, hi = BOUNDS.get(name, (None, MAX_TEXT if _kind(name) == "text" else None))
    return {"name": name, "value": _current(rt, name), "default": getattr(rt.settings, SWITCHES[name]),
            "help": field.metadata["doc"], "min": lo, "max": hi, "kind": _kind(name),
            "env": field.metadata["env"]}


def check(name: str, value: Any) -> Any:
    """The value if `name` may take it; a 400 naming the setting otherwise."""
    if name not in SWITCHES:
        raise invalid(name, "not a runtime setting (" + ", ".join(SWITCHES) + ")")
    kind = _kind(name)
    if kind == "bool" and not isinstance(value, bool):
        raise invalid(name, "true or false")
    if kind == "int":
        lo, hi = BOUNDS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise invalid(name, f"an integer in {lo}..{hi}")
    if kind == "text" and (not isinstance(value, str) or len(value) > MAX_TEXT):
        raise invalid(name, f"a string of at most {MAX_TEXT} characters")
    return value


@route("GET", "/settings", role="admin")
async def settings(req: AdminRequest) -> dict[str, Any]:
    rt = req.admin.rt
    return {"items": await req.call(lambda: [_item(rt, name) for name in SWITCHES])}


@route("PATCH", "/settings", role="admin")
async def change(req: AdminRequest) -> dict[str, Any]:
    body = await req.body()
    if not body:
        raise invalid("body", "at least one setting")
    values = {name: check(name, value) for name, value in body.items()}
    rt = req.admin.rt

    def write() -> list[dict[str, Any]]:
        for name, value in values.items():
            before = _current(rt, name)
            rt.set_switch(name, value)
            req.audited(f"setting.{name}", f"setting:{name}", before, value)
        return [_item(rt, name) for name in SWITCHES]
    return {"items": await req.call(write)}
