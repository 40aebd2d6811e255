"""The Redis key layout of the update pipeline, in one place, for one Redis and for Redis Cluster alike.

Every key of one bot starts with ``botrunner:<bot id>:`` so several bots can share one Redis
(the systemd template unit runs one supervisor per bot). The pipeline uses REDIS_DEDUP_DB (db 0 on
a cluster, which has no other database).

Hash tags (the ``{...}`` part) decide a key's Redis Cluster slot; on one Redis they are just
characters. The slot groups are the units a script may touch atomically:

    {lane:<n>}   lane n's stream, lease, attempts, generation marker (on a cluster), and the seen /
                 done / journal records of the updates routed to it: intake, completion and the
                 journal are one script per lane
    {poll}       the poll lease, its fence, the offset, poll:last, poll:error: the fenced offset write
    {send}       the limiter: every bucket, freeze, the recent-429 zset and the blocked-chat set,
                 so one send is still decided by one script
    {workers}    the registry zset and the workers' hashes (one heartbeat script)
    {meta}       the data generation, the faults counters and (on a cluster) the losses counted
    {dead}       the dead-letter stream and its counter

Keys outside these groups are only ever touched one at a time. 64 lanes spread over three masters
about evenly (CRC16 of "lane:0".."lane:63": 20 / 22 / 22 over the default slot ranges).
Every script names every key it touches in KEYS; scripts never build key names themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

GROUP = "workers"             # the consumer group every lane stream carries
DEDUP_TTL_S = 24 * 3600       # Telegram keeps unconfirmed updates 24 h; so do we remember update_ids
DONE_TTL_S = 24 * 3600        # completion markers live as long as a redelivery can happen
# update_ids per seen/done hash of one lane: a lane gets about 1/LANES of all ids, so with 64 lanes a
# hash holds about 64 fields and stays compact (listpack, about 10 bytes a field)
BUCKET = 4096


def bot_id(token: str) -> str:
    """The numeric prefix of a bot token (the bot's user id); 'local' when there is no token."""
    head = token.split(":", 1)[0]
    return head if head.isdigit() else "local"


def lane_tag(n: int) -> str:
    """The hash tag of lane n: everything keyed by the lane shares its slot."""
    return f"{{lane:{n}}}"


@dataclass(frozen=True)
class Keys:
    """Names of every Redis key one bot's pipeline uses."""

    prefix: str

    @classmethod
    def for_token(cls, token: str) -> "Keys":
        return cls(f"botrunner:{bot_id(token)}:")

    # --- poll lease and intake: slot {poll} ---
    @property
    def poll_lease(self) -> str:          # "<fence>:<worker id>", PX = POLL_LEASE_TTL_MS
        return self.prefix + "{poll}:lease"

    @property
    def poll_fence(self) -> str:          # INCR counter: one fencing token per lease acquisition
        return self.prefix + "{poll}:fence"

    @property
    def poll_offset(self) -> str:         # the next update_id to ask getUpdates for
        return self.prefix + "{poll}:offset"

    @property
    def poll_last(self) -> str:           # ms timestamp of the last successful getUpdates + intake
        return self.prefix + "{poll}:last"

    @property
    def poll_error(self) -> str:          # JSON {code, description, at ms} of the last Bot API error of getUpdates
        return self.prefix + "{poll}:error"

    # --- lanes: slot {lane:<n>} each ---
    def lane(self, n: int) -> str:        # stream of raw updates for lane n
        return self.prefix + lane_tag(n)

    def lane_owner(self, n: int) -> str:  # lane lease: holder's worker id, PX = LANE_LEASE_TTL_MS
        return f"{self.prefix}{lane_tag(n)}:owner"

    def lane_generation(self, n: int) -> str:  # cluster only: lane n's data generation, vanishes with its stream
        return f"{self.prefix}{lane_tag(n)}:generation"

    def attempts(self, n: int) -> str:    # hash: stream entry id -> failed/started attempts
        return f"{self.prefix}{lane_tag(n)}:attempts"

    def seen(self, lane: int, update_id: int | str) -> str:   # intake dedup markers (field: bucket_field), 24 h
        return f"{self.prefix}{lane_tag(lane)}:seen:{int(update_id) // BUCKET}"

    @staticmethod
    def bucket_field(update_id: int | str) -> str:   # an update's field in its seen/done bucket
        return str(int(update_id) % BUCKET)

    def done(self, lane: int, update_id: int | str) -> str:   # completion markers (field: bucket_field), 24 h
        return f"{self.prefix}{lane_tag(lane)}:done:{int(update_id) // BUCKET}"

    def send_journal(self, lane: int, update_id: int | str) -> str:  # hash seq -> outcome of each sent call, 24 h
        return f"{self.prefix}{lane_tag(lane)}:journal:{update_id}"

    # --- dead letters: slot {dead} ---
    @property
    def dead(self) -> str:                # dead-letter stream (update, error, attempts, lane)
        return self.prefix + "{dead}"

    @property
    def dead_count(self) -> str:          # total ever dead-lettered
        return self.prefix + "{dead}:count"

    # --- faults: data-loss detection and counters: slot {meta} ---
    @property
    def generation(self) -> str:          # "<n>:<random>": vanishes with the data (FLUSHALL, restart without AOF)
        return self.prefix + "{meta}:generation"

    @property
    def data_losses(self) -> str:         # cluster only: set of the ids of losses counted (one count each), 24 h
        return self.prefix + "{meta}:losses"

    @property
    def faults(self) -> str:              # hash: counters of faults survived (data_loss, deleted_claims, ...)
        return self.prefix + "{meta}:faults"

    # --- workers: slot {workers} ---
    @property
    def workers(self) -> str:             # zset: worker id -> last heartbeat (ms)
        return self.prefix + "{workers}"

    def worker(self, worker_id: str) -> str:         # hash: host, pid, started, rss, lanes; with TTL
        return f"{self.prefix}{{workers}}:{worker_id}"

    def cohort(self, cohort: str) -> str:            # set of worker ids started together (settle at boot), PX
        return f"{self.prefix}{{workers}}:cohort:{cohort}"

    @property
    def lane_events(self) -> str:         # pub/sub channel (not a key): joined / left / released, wakes keepers
        return self.prefix + "lanes:events"

        # --- sender: flood control and blocked chats: slot {send}; one key each otherwise ---
    def send_tat(self, bucket: str, chat: str) -> str:  # GCRA "theoretical arrival time" (ms) of a bucket
        return f"{self.prefix}{{send}}:tat:{bucket}:{chat}"

    @property
    def send_freeze_global(self) -> str:  # ms until which nobody sends (a bot-wide 429), PX
        return self.prefix + "{send}:freeze:global"

    def send_freeze_chat(self, chat: str) -> str:    # ms until which nobody sends to this chat (a 429), PX
        return f"{self.prefix}{{send}}:freeze:chat:{chat}"

    @property
    def send_recent_429(self) -> str:     # zset chat -> ms of its last 429: many chats at once = global
        return self.prefix + "{send}:429:recent"

    @property
    def send_blocked(self) -> str:        # set of chat ids that blocked the bot (403) or are gone (400)
        return self.prefix + "{send}:blocked"

    def remembered(self, name: str) -> str:               # message_id of a call sent with _remember_as=name, 24 h
        return f"{self.prefix}send:remembered:{name}"

    @property
    def event_seq(self) -> str:                           # INCR counter of bot events (update id = -value)
        return self.prefix + "events:seq"

    # --- webhook intake ---
    @property
    def webhook_rejected(self) -> str:    # hash reason -> refused webhook POSTs (401, 403, 400), all workers
        return self.prefix + "webhook:rejected"
