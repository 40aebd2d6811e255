"""Every metric a botrunner process records, with its name, unit and bounded label set.

Imported lazily (by `botrunner.metrics.record` on first use), never at start-up: prometheus_client
fixes a metric's storage (in memory, or a per-process mmap file under PROMETHEUS_MULTIPROC_DIR)
when the metric is built, so the supervisor must set that directory before anything here exists.
Every label value comes from a closed vocabulary (the sets below, fixed strings at the call
sites, or routes the bot registered in code), so the number of series never grows with traffic.
Gauges say how processes combine: `livesum` (add up live processes), `liveall` (one series per
live pid), `livemin`; a dead worker's live gauges are removed by the supervisor (mark_process_dead).
An unlabelled metric is written (as 0) by every process that builds it, so the gauges only some
processes set (per worker, per cache, per MongoDB pool) are built on first use: `process_gauge()`.
"""
from __future__ import annotations

from functools import cache
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

from botrunner.sender.flood_limiter import COUNTED

# Telegram's update types (the one optional field of an Update besides update_id)
UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "message_reaction",
    "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query", "shipping_query",
    "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_member",
    "chat_join_request", "chat_boost", "removed_chat_boost"})

# Bot API methods a bot commonly calls; anything else is counted as "other"
METHODS = COUNTED | frozenset({
    "editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup", "deleteMessage",
    "deleteMessages", "answerCallbackQuery", "answerInlineQuery", "answerPreCheckoutQuery",
    "answerShippingQuery", "sendChatAction", "setMessageReaction", "getChatMember", "getChat", "getMe",
    "getFile", "banChatMember", "unbanChatMember", "restrictChatMember", "approveChatJoinRequest",
    "declineChatJoinRequest", "pinChatMessage", "unpinChatMessage", "createChatInviteLink", "leaveChat",
    "setMyCommands"})

FAST = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
SLOW = (.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300)

# --- intake ---
updates_received = Counter("botrunner_updates_received", "Updates received from Telegram, by source and "
                           "update type (duplicates included: see botrunner_updates_duplicate_total).",
                           ["source", "type"])
updates_duplicate = Counter("botrunner_updates_duplicate", "Updates intake dropped because their update_id "
                            "was already stored (a re-poll after a crash, a webhook retry).", ["source"])
updates_rejected = Counter("botrunner_updates_rejected", "Items without an integer update_id, skipped and "
                           "logged.", ["source"])
polls = Counter("botrunner_polls", "getUpdates calls by outcome: ok, error (network, 5xx), conflict (409), "
                "rate_limited (429), lease_lost.", ["result"])
poll_lease_held = Gauge("botrunner_poll_lease_held", "1 while a worker of this host holds the poll lease "
                        "(sum over hosts: 1).", multiprocess_mode="livesum")

# --- processing ---
updates_handled = Counter("botrunner_updates_handled", "Updates finished, by result: ok (each update once), "
                          "duplicate (already completed elsewhere, acknowledged), dead_lettered; retried counts "
                          "failed attempts that were tried again.", ["result"])
handler_duration = Histogram("botrunner_handler_duration_seconds", "Time a handler ran, by route (command, "
                             "callback prefix, state, text, default).", ["route"], buckets=FAST)
update_latency = Histogram("botrunner_update_latency_seconds", "From intake (lane entry written) to the update's "
                           "replies sent and the update acknowledged, by route.", ["route"], buckets=SLOW)
dead_letters = Counter("botrunner_dead_letters", "Updates moved to the dead-letter stream.")

# --- sender ---
sends = Counter("botrunner_sends", "Outgoing Bot API calls by method and result: ok, 429, 403 (blocked or "
                "chat gone), error (final failure), retry (5xx or network error, tried again).",
                ["method", "result"])
limiter_wait = Histogram("botrunner_send_limiter_wait_seconds", "Time a call waited for the cluster-wide "
                         "flood limiter before it was sent.", buckets=FAST)
flood_freezes = Counter("botrunner_flood_freezes", "429 answers, by the scope they froze for every worker: "
                        "chat, group, global.", ["scope"])

# --- broadcasts (a bot's bulk sends through the sender's broadcast class) ---
BROADCAST_OUTCOMES = frozenset({"sent", "blocked", "failed", "skipped", "retried"})
broadcast_recipients = Counter("botrunner_broadcast_recipients", "Broadcast recipients by outcome: sent, blocked "
                               "(403 or chat gone), failed (with a reason), skipped (in doubt after a worker died "
                               "mid-send), retried (refused by 429s, put back for a later pass).", ["outcome"])

# --- user cache and database ---
cache_lookups = Counter("botrunner_user_cache_lookups", "User cache lookups by where they were answered: l1, "
                        "l2 (Redis), miss (database).", ["result"])
db_call_duration = Histogram("botrunner_db_call_duration_seconds", "Database round trips and their latency, "
                             "by backend and operation (_count: calls).", ["backend", "operation"], buckets=FAST)
db_errors = Counter("botrunner_db_errors", "Database round trips that raised, by backend and operation.",
                    ["backend", "operation"])

# --- Redis and processes ---
redis_errors = Counter("botrunner_redis_errors", "Redis calls that failed (connection, timeout), by component.",
                       ["component"])
worker_restarts = Counter("botrunner_worker_restarts", "Workers replaced, by cause: killed (a signal such as "
                          "KILL: perhaps out of memory), heartbeat (hung), crashed (non-zero exit), exited, "
                          "memory (MAX_WORKER_MEMORY_MB), rolled (SIGHUP).", ["cause"])
workers_running = Gauge("botrunner_workers_running", "Worker processes the supervisor runs.",
                        multiprocess_mode="livesum")

PROCESS_GAUGES: dict[str, tuple[str, str, Literal["livesum", "livemin", "liveall"]]] = {
    "cache_l1_entries": ("botrunner_user_cache_l1_entries", "Users in the L1 caches of this host's workers.",
                         "livesum"),
    "cache_redis_available": ("botrunner_user_cache_redis_available", "0 when any worker's user cache cannot "
                              "reach Redis (it runs on L1 + database meanwhile).", "livemin"),
    "db_pool_in_use": ("botrunner_db_pool_connections_in_use", "MongoDB connections checked out of the worker's "
                       "pool.", "liveall"),
    "db_pool_max": ("botrunner_db_pool_max_connections", "The worker's MongoDB maxPoolSize.", "liveall"),
    "worker_rss": ("botrunner_worker_resident_memory_bytes", "Resident memory of each live worker.", "liveall"),
    "broadcasts_running": ("botrunner_broadcasts_running", "Running broadcasts the host's workers are sending now "
                           "(sum over hosts: every running broadcast that has an owner).", "livesum"),
    "broadcast_rate": ("botrunner_broadcast_recipients_per_second", "Recipients per second the host's workers' "
                       "broadcasts achieve, over their last pages (0 when none is sending).", "livesum"),
}


@cache
def process_gauge(key: str) -> Gauge:
    """The gauge PROCESS_GAUGES names, built in this process on first use."""
    name, documentation, mode = PROCESS_GAUGES[key]
    return Gauge(name, documentation, multiprocess_mode=mode)
