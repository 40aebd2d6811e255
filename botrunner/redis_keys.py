"""The Redis key layout of the update pipeline, in one place.

Every key of one bot lives under ``botrunner:<bot id>:`` so several bots can share one Redis
(the systemd template unit runs one supervisor per bot). The pipeline uses REDIS_DEDUP_DB.
The Lua scripts build some of these names themselves from the prefix: keep both in step.
"""
from __future__ import annotations

from dataclasses import dataclass

GROUP = "workers"             # the consumer group every lane stream carries
DEDUP_TTL_S = 24 * 3600       # Telegram keeps unconfirmed updates 24 h; so do we remember update_ids
DONE_TTL_S = 24 * 3600        # completion markers live as long as a redelivery can happen


def bot_id(token: str) -> str:
    """The numeric prefix of a bot token (the bot's user id); 'local' when there is no token."""
    head = token.split(":", 1)[0]
    return head if head.isdigit() else "local"


@dataclass(frozen=True)
class Keys:
    """Names of every Redis key one bot's pipeline uses."""

    prefix: str

    @classmethod
    def for_token(cls, token: str) -> "Keys":
        return cls(f"botrunner:{bot_id(token)}:")

    # --- poll lease and intake ---
    @property
    def poll_lease(self) -> str:          # "<fence>:<worker id>", PX = POLL_LEASE_TTL_MS
        return self.prefix + "poll:lease"

    @property
    def poll_fence(self) -> str:          # INCR counter: one fencing token per lease acquisition
        return self.prefix + "poll:fence"

    @property
    def poll_offset(self) -> str:         # the next update_id to ask getUpdates for
        return self.prefix + "poll:offset"

    @property
    def poll_last(self) -> str:           # ms timestamp of the last successful getUpdates + intake
        return self.prefix + "poll:last"

    def seen(self, update_id: int | str) -> str:     # intake dedup marker, 24 h
        return f"{self.prefix}seen:{update_id}"

    # --- lanes ---
    def lane(self, n: int) -> str:        # stream of raw updates for lane n
        return f"{self.prefix}lane:{n}"

    def lane_owner(self, n: int) -> str:  # lane lease: holder's worker id, PX = LANE_LEASE_TTL_MS
        return f"{self.prefix}lane:{n}:owner"

    def attempts(self, n: int) -> str:    # hash: stream entry id -> failed/started attempts
        return f"{self.prefix}lane:{n}:attempts"

    # --- completion and dead letters ---
    def done(self, update_id: int | str) -> str:     # completion marker, 24 h
        return f"{self.prefix}done:{update_id}"

    @property
    def dead(self) -> str:                # dead-letter stream (update, error, attempts, lane)
        return self.prefix + "dead"

    @property
    def dead_count(self) -> str:          # total ever dead-lettered
        return self.prefix + "dead:count"

    # --- workers ---
    @property
    def workers(self) -> str:             # zset: worker id -> last heartbeat (ms)
        return self.prefix + "workers"

    def worker(self, worker_id: str) -> str:         # hash: host, pid, started, rss, lanes; with TTL
        return f"{self.prefix}worker:{worker_id}"
