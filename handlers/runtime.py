"""What every bot handler needs, built once per worker: settings, repositories, Redis, texts, Bot API.

`runtime(ctx)` returns it from `ctx.services.bot`. Operator switches changed at runtime (maintenance,
transfers on/off, ...) live in `store.settings` and are read through `switch()` with a short cache,
so an admin's change reaches every worker within a few seconds.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from botrunner.bot.context import Context
from botrunner.config.settings import Settings

if TYPE_CHECKING:
    from botrunner.bot.callback_data import Signer
    from handlers.bot_api import BotApi
    from handlers.texts import Texts
    from storage.base import Store, UserLookup
    from storage.write_batcher import WriteBatcher

#: Runtime switches admins may change with /setting, and the Settings field each one overrides.
SWITCHES = {
    "maintenance": "maintenance_mode",
    "maintenance_message": "maintenance_message",
    "transfer_enabled": "transfer_enabled",
    "captcha_enabled": "captcha_enabled",
    "min_withdraw_points": "min_withdraw_points",
    "referral_bonus": "referral_bonus",
    "daily_bonus": "daily_bonus",
}
#: Switches that are a task's reward: the task row is their one source of truth (handlers pay
#: task.reward), so /setting writes the row instead of a value nothing would read.
TASK_REWARDS = {"daily_bonus": "daily"}
SWITCH_CACHE_S = 3.0
#: ctx.data key of the user record read for this update (by the gate, or by /start when it registers)
USER_KEY = "gate_user"


@dataclass
class Runtime:
    """The bot's per-worker dependencies (handlers reach them as `runtime(ctx)`)."""

    settings: Settings
    store: Store
    users: UserLookup                    # the UserCache in workers
    redis: redis.Redis                   # rate limits, one-time buttons, locks, leaderboard cache
    texts: Texts
    api: BotApi                          # getChatMember
    batcher: WriteBatcher | None = None  # None: write through
    captcha: Any = None                  # handlers.captcha.ImageCaptcha (which imports this module)
    signer: Signer | None = None         # signs callback data
    prefix: str = "bot:"
    _switches: dict[str, Any] = field(default_factory=dict)
    _switches_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def is_admin(self, user_id: int | None) -> bool:
        """ADMIN_USER_IDS only; there is no default admin."""
        return user_id is not None and user_id in self.settings.admin_user_ids

    def switch(self, name: str) -> Any:
        """A runtime switch: the stored value if an admin set one, else the configured default."""
        if name in TASK_REWARDS:
            task = self.store.tasks.get(TASK_REWARDS[name])
            return task.reward if task else getattr(self.settings, SWITCHES[name])
        with self._lock:
            if time.monotonic() - self._switches_at > SWITCH_CACHE_S:
                self._switches = self.store.settings.all()
                self._switches_at = time.monotonic()
            stored = self._switches
        if name in stored:
            return stored[name]
        attribute = SWITCHES.get(name)
        return getattr(self.settings, attribute) if attribute else None

    def set_switch(self, name: str, value: Any) -> None:
        if name in TASK_REWARDS:
            self.store.tasks.update(TASK_REWARDS[name], reward=value)
            return
        self.store.settings.set(name, value)
        with self._lock:
            self._switches_at = 0.0

    def user(self, user_id: int):
        return self.users.get(user_id)

    def lang(self, ctx: Context) -> str:
        """The user's chosen language, else Telegram's language_code, else English. The record read for
        this update is used when there is one (a handler changing the language updates it too)."""
        user = ctx.data.get(USER_KEY) if ctx.user_id else None
        if user is None or user.id != ctx.user_id:
            user = self.users.get(ctx.user_id) if ctx.user_id else None
        code = (user.language_code if user else "") or _telegram_language(ctx)
        return self.texts.pick(code)

    def t(self, ctx: Context, key: str, **values: Any) -> str:
        """A text from the catalogs, in the user's language."""
        return self.texts.get(self.lang(ctx), key, **values)

    def key(self, *parts: Any) -> str:
        return self.prefix + ":".join(str(p) for p in parts)


def _telegram_language(ctx: Context) -> str:
    user = ctx.effective_user
    return (user.language_code or "") if user else ""


def runtime(ctx: Context) -> Runtime:
    """The worker's Runtime, as installed by handlers.app's startup hook."""
    return ctx.services.bot
