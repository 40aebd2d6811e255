"""Start-up options of the local Bot API server: flood limits, callback TTL, webhook retries, ids."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FloodLimits:
    """Token-bucket limits for outgoing sends, shaped like Telegram's (which are not published exactly).

    Off by default so tests and benchmarks measure the bot, not the limiter.
    """

    enabled: bool = False
    chat_rate: float = 1.0          # messages per second into one private chat ...
    chat_burst: int = 3             # ... with a short burst allowed
    group_per_minute: int = 20      # messages per minute into one group / channel
    global_rate: float = 30.0       # messages per second across all chats of one bot (bulk sends) ...
    global_burst: int = 30
    reply_window_s: float = 60.0    # ... not counting a private chat whose user wrote this recently (a reply)

    def update(self, **changes: Any) -> None:
        """Change some values in place (control plane); unknown names raise TypeError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown flood limit option(s): {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            if name == "enabled":
                value = value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")
            setattr(self, name, type(getattr(self, name))(value))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class EmulatorOptions:
    """Everything `serve()` / `running_emulator()` accept as keyword options."""

    flood: FloodLimits = field(default_factory=FloodLimits)
    callback_ttl: float = 15.0             # seconds a callback query can still be answered
    first_update_id: int = 1               # update_id of the first update of every new token
    webhook_retry_base: float = 1.0        # first retry delay after a failed delivery (seconds) ...
    webhook_retry_max: float = 60.0        # ... doubling up to this
    webhook_timeout: float = 10.0          # a delivery not answered within this counts as failed
    webhook_set_interval: float = 1.0      # setWebhook more often than this per token -> 429
    update_ttl: float = 24 * 3600.0        # unconfirmed updates are dropped after this
    poll_history: int = 10000              # getUpdates calls kept per token for poll statistics

    @classmethod
    def build(cls, **options: Any) -> "EmulatorOptions":
        """Options from keywords; `flood=` may be a FloodLimits or a dict, `flood_<name>=` sets one value."""
        flood = options.pop("flood", None)
        flood = flood if isinstance(flood, FloodLimits) else FloodLimits(**(flood or {}))
        flood.update(**{k[6:]: options.pop(k) for k in list(options) if k.startswith("flood_")})
        return cls(flood=flood, **options)
