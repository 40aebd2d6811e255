"""Configuration: environment variables plus an optional .env file, validated once.

`load_settings()` is the only place in the code base that reads the environment. It returns a
frozen `Settings`; everything else receives that object (or values taken from it).
A wrong value raises `ConfigError` whose message is one line: variable, value, what is allowed.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from dotenv import dotenv_values

from botrunner.config import node_env
from botrunner.config.redis_tls import check_tls
from botrunner.errors import ConfigError

# --- parsers: each takes the raw string and returns the typed value or raises ValueError(allowed) ---

def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        allowed = "an integer" + (f" in {lo}..{hi}" if lo is not None and hi is not None
                                  else f" >= {lo}" if lo is not None else "")
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(allowed) from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(allowed)
        return value
    return parse


def number(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"a number in {lo}..{hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"a number in {lo}..{hi}")
        return value
    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def boolean(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("one of true/false, yes/no, on/off, 1/0")


def choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        word = raw.strip().lower()
        if word not in options:
            raise ValueError("one of " + ", ".join(options))
        return word
    return parse


def pattern(regex: str, allowed: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def parse(raw: str) -> str:
        if raw and not compiled.fullmatch(raw):
            raise ValueError(allowed)
        return raw
    return parse


def url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw:
            return raw
        allowed = "a URL starting with " + " or ".join(f"{s}://" for s in schemes)
        if any(ch.isspace() for ch in raw):
            raise ValueError("a URL without spaces")
        try:
            parts = urlsplit(raw)
            _ = parts.port                 # a port that is not a number raises here, not in a client later
        except ValueError:
            raise ValueError(allowed + " (host:port with a numeric port)") from None
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise ValueError(allowed)
        return raw.rstrip("/") if parts.scheme in ("http", "https") else raw
    return parse


def mongo_url(raw: str) -> str:
    """A MongoDB connection string: a replica set names several host[:port] separated by commas
    (mongodb://u:p@h1:27017,h2:27017/db?replicaSet=rs0), which a plain URL parser rejects."""
    if not raw:
        return raw
    allowed = "a URL starting with mongodb:// or mongodb+srv://"
    if any(ch.isspace() for ch in raw):
        raise ValueError("a URL without spaces")
    scheme, sep, rest = raw.partition("://")
    hosts = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    if not sep or scheme not in ("mongodb", "mongodb+srv") or not hosts:
        raise ValueError(allowed)
    for member in hosts.split(","):
        name, port = member.rsplit(":", 1) if ":" in member and not member.endswith("]") else (member, "")
        if not name or (port and not (port.isdigit() and 0 < int(port) < 65536)) or (":" in member and not port):
            raise ValueError(allowed + " (host:port,host:port with numeric ports)")
    return raw


def hours(lo: int, hi: int) -> Callable[[str], int]:
    """Whole hours, written `24` or `24h` (the Node bot's style)."""
    whole = integer(lo, hi)

    def parse(raw: str) -> int:
        try:
            return whole(raw.strip().lower().removesuffix("h"))
        except ValueError:
            raise ValueError(f"a number of hours in {lo}..{hi} (such as 24 or 24h)") from None
    return parse


def text(raw: str) -> str:
    return raw


_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


def host(raw: str) -> str:
    """A host name, IPv4 or IPv6 address: nothing else (an inline comment kept by systemd fails here)."""
    value = raw.strip()
    try:
        ipaddress.ip_address(value.removeprefix("[").removesuffix("]"))
        return value
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(value):
        return value
    raise ValueError("a host name or IP address")


def id_list(raw: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in re.split(r"[,\s]+", raw.strip()) if part)
    except ValueError:
        raise ValueError("a comma-separated list of integer Telegram ids") from None


def cidr_list(raw: str) -> tuple[str, ...]:
    import ipaddress
    parts = tuple(part for part in re.split(r"[,\s]+", raw.strip()) if part)
    try:
        return tuple(str(ipaddress.ip_network(part, strict=False)) for part in parts)
    except ValueError:
        raise ValueError("a comma-separated list of networks such as 149.154.160.0/20") from None


def host_port(raw: str) -> str:
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("host:port, such as 127.0.0.1:8443 or [::]:8443")
    return raw.strip()


def address_list(raw: str) -> tuple[str, ...]:
    """host:port,host:port (Sentinels): each checked like host_port, spaces allowed after commas."""
    parts = tuple(part for part in re.split(r"[,\s]+", raw.strip()) if part)
    try:
        return tuple(host_port(part) for part in parts)
    except ValueError:
        raise ValueError("a comma-separated list of host:port, such as 10.0.0.1:26379,10.0.0.2:26379") from None


def env(name: str, parse: Callable[[str], Any], default: Any, doc: str,
        secret: bool = False, group: str = "general", built: bool = True) -> Any:
    """Declare one setting: its variable, parser, default (typed) and one-line description.
    built=False: accepted and validated, but nothing reads it yet (the reference says so).
    A secret stays out of the Settings repr."""
    return field(default=default, repr=not secret, metadata={
        "env": name, "parse": parse, "secret": secret, "doc": doc, "group": group, "built": built})


@dataclass(frozen=True)
class Settings:
    """Every setting botrunner reads, typed and validated. Built once by `load_settings()`."""

    # Telegram
    bot_token: str = env("BOT_TOKEN", pattern(r"\d{1,20}:[A-Za-z0-9_-]{1,200}", "<bot id>:<secret>, as BotFather prints it"),
                         "", "Bot token from BotFather. Required unless --api-url points at a local Bot API server.",
                         secret=True, group="telegram")
    telegram_api_url: str = env("TELEGRAM_API_URL", url("http", "https"), "https://api.telegram.org",
                                "Bot API server base; requests go to URL/bot<token>/<method>.", group="telegram")
    use_webhook: bool = env("USE_WEBHOOK", boolean, False, "Receive updates by webhook instead of long polling "
                            "(needs WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET; see docs/webhook.md).",
                            group="telegram")
    webhook_url: str = env("WEBHOOK_URL", url("https", "http"), "", "Public URL Telegram posts updates to "
                           "(https://, except with a local Bot API server); `start` registers it with setWebhook.",
                           group="telegram")
    webhook_secret: str = env("TELEGRAM_WEBHOOK_SECRET", pattern(r"[A-Za-z0-9_-]{1,256}", "1..256 characters of A-Z a-z 0-9 _ -"),
                              "", "Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; checked in constant time.",
                              secret=True, group="telegram")
    webhook_response_timeout_ms: int = env("WEBHOOK_RESPONSE_TIMEOUT_MS", integer(100, 60000), 25000,
                                           "Longest time a webhook request may take before it is answered.",
                                           group="telegram")
    # --- webhook intake and the HTTP front ---
    webhook_path: str = env("WEBHOOK_PATH", pattern(r"/[A-Za-z0-9/_.~-]*", "a URL path starting with /"),
                            "/webhook", "Path the workers accept webhook POSTs on.", group="telegram")
    webhook_port: int = env("WEBHOOK_PORT", integer(0, 65535), 0, "The guide's name for the port of WEB_LISTEN "
                            "(0: take the port from WEB_LISTEN).", group="telegram")
    webhook_max_connections: int = env("WEBHOOK_MAX_CONNECTIONS", integer(1, 100), 40, "max_connections sent "
                                       "with setWebhook: concurrent POSTs Telegram opens.", group="telegram")
    webhook_trusted_networks: tuple = env("WEBHOOK_TRUSTED_NETWORKS", cidr_list, (), "CIDRs webhook POSTs may "
                                          "come from, e.g. 149.154.160.0/20,91.108.4.0/22 (unset: any address).",
                                          group="telegram")
    web_listen: str = env("WEB_LISTEN", host_port, "127.0.0.1:8443", "host:port every worker's HTTP server "
                          "listens on (SO_REUSEPORT: all workers of a host share it).", group="web")
    web_trusted_proxies: tuple = env("WEB_TRUSTED_PROXIES", cidr_list, ("127.0.0.1/32", "::1/128"), "Proxies "
                                     "whose X-Forwarded-For is believed (nginx on the same host by default).",
                                     group="web")
    web_max_body_bytes: int = env("WEB_MAX_BODY_BYTES", integer(1024, 64 * 1024 * 1024), 1048576, "Largest "
                                  "request body; larger ones are answered 413.", group="web")
    web_header_timeout_s: float = env("WEB_HEADER_TIMEOUT_S", number(0.5, 300), 10.0, "A connection that "
                                      "started a request but has not sent all its headers this long is cut off.",
                                      group="web")
    web_read_timeout_s: float = env("WEB_READ_TIMEOUT_S", number(0.5, 300), 10.0, "Longest time to receive a "
                                    "request body (slower clients get 408).", group="web")
    web_keepalive_timeout_s: float = env("WEB_KEEPALIVE_TIMEOUT_S", number(1, 3600), 75.0, "Idle keep-alive "
                                         "connections are closed after this (keep above nginx's upstream "
                                         "keepalive_timeout).", group="web")
    web_max_connections: int = env("WEB_MAX_CONNECTIONS", integer(1, 1_000_000), 1000, "Open connections per "
                                   "worker; further ones are closed at once.", group="web")

    # Runner
    state_dir: str = env("STATE_DIR", text, "./var", "Holds the embedded Redis and SQLite files "
                         "(/var/lib/botrunner under systemd). A relative path is resolved against the "
                         "current directory: `check` and `status` print the absolute path.", group="runner")
    workers: int = env("WORKERS", integer(1, 256), 2, "Worker processes started by `botrunner start` (the "
                       "example env file sets 4: about one per core).", group="runner")
    lanes: int = env("LANES", integer(1, 4096), 64, "Per-chat lanes (Redis streams) updates are spread over.",
                     group="runner")
    max_attempts: int = env("MAX_ATTEMPTS", integer(1, 100), 5, "Failed attempts before an update goes to the "
                            "dead-letter stream.", group="runner")
    handler_threads: int = env("HANDLER_THREADS", integer(1, 512), 16, "Threads per worker running synchronous handlers.",
                               group="runner")
    chat_runners: int = env("CHAT_RUNNERS", integer(1, 4096), 128, "Chats a worker handles at once (each chat's "
                            "updates one at a time, in order). Most of an update's time is spent waiting on Redis "
                            "and the Bot API, so a worker needs many more of these than handler threads to keep "
                            "its cores busy (a worker's throughput is at most CHAT_RUNNERS / the time one update "
                            "takes); each holds at most one Bot API call and one Redis script in flight.",
                            group="runner")
    max_worker_memory_mb: int = env("MAX_WORKER_MEMORY_MB", integer(32), 512, "A worker whose RSS passes this is "
                                    "recycled.", group="runner")
    drain_timeout_s: float = env("DRAIN_TIMEOUT_S", number(0.5, 600), 20.0, "Warm stop: time workers get to finish "
                                 "in-flight updates (keep below systemd's TimeoutStopSec).", group="runner")
    heartbeat_timeout_s: float = env("HEARTBEAT_TIMEOUT_S", number(1, 600), 30.0, "A worker silent this long is "
                                     "killed and replaced.", group="runner")
    poll_lease_ttl_ms: int = env("POLL_LEASE_TTL_MS", integer(1000, 600000), 10000, "Poll lease lifetime; a dead "
                                 "poller is replaced within this.", group="runner")
    lane_lease_ttl_ms: int = env("LANE_LEASE_TTL_MS", integer(1000, 600000), 10000, "Lane lease lifetime; a dead "
                                 "worker's lanes move to the others within this.", group="runner")
    lane_settle_ms: int = env("LANE_SETTLE_MS", integer(0, 60000), 5000, "At start, the longest a worker waits for "
                              "the others started with it before taking lanes without them (they agree on the "
                              "assignment first, so no lane is taken and handed back).", group="runner")
    poll_timeout_s: int = env("POLL_TIMEOUT_S", integer(0, 50), 25, "getUpdates long-poll timeout, capped at half "
                              "of POLL_LEASE_TTL_MS (with the default 10000 ms: 5 s; raise POLL_LEASE_TTL_MS to "
                              "60000 for 25 s) so a dead poller's request ends before its lease expires.",
                              group="runner")
    bot_handlers: str = env("BOT_HANDLERS", pattern(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", "module.path:attribute"),
                            "handlers.app:router", "The router the workers run (module:attribute).", group="runner")
    handler_timeout_s: float = env("HANDLER_TIMEOUT_S", number(0, 86400), 60.0, "A handler running longer is "
                                   "abandoned: its update is dead-lettered, its thread replaced (0: no limit).",
                                   group="runner")
    redis_timeout_s: float = env("REDIS_TIMEOUT_S", number(1, 300), 10.0, "Socket timeout of the pipeline's Redis "
                                 "calls: a silent Redis (a partition) fails them instead of hanging them.",
                                 group="runner")
    intake_wait_replicas: int = env("INTAKE_WAIT_REPLICAS", integer(0, 64), 0, "After intake stores a batch, WAIT "
                                    "until this many replicas have it before getUpdates confirms it to Telegram "
                                    "(0: off, for a single Redis; unset with REDIS_SENTINELS: 1; on a Redis Cluster every "
                                    "master the batch went to).", group="runner")
    intake_wait_timeout_ms: int = env("INTAKE_WAIT_TIMEOUT_MS", integer(1, 60000), 1000, "Longest WAIT for "
                                      "INTAKE_WAIT_REPLICAS; a batch not replicated by then is retried, never "
                                      "confirmed.", group="runner")

    # Sender (outgoing Bot API calls)
    send_limits: bool = env("SEND_LIMITS", boolean, True, "Cluster-wide flood limits on sends (false lifts every "
                            "bucket, for a local Bot API server; 429 freezes still apply).", group="sender")
    send_chat_rate: float = env("SEND_CHAT_RATE", number(0, 100000), 1.0, "Messages per second into one chat, "
                                "all workers together (0: unlimited); chat and group rates are kept 10 % under.", group="sender")
    send_chat_burst: int = env("SEND_CHAT_BURST", integer(1, 100000), 3, "Messages one chat may get at once "
                               "before SEND_CHAT_RATE applies.", group="sender")
    send_group_per_minute: float = env("SEND_GROUP_PER_MINUTE", number(0, 6000000), 20.0, "Messages per minute "
                                       "into one group or channel (0: unlimited).", group="sender")
    send_group_burst: int = env("SEND_GROUP_BURST", integer(1, 100000), 5, "Messages a group may get at once.",
                                group="sender")
    send_global_rate: float = env("SEND_GLOBAL_RATE", number(0, 1000000), 30.0, "Messages per second for "
                                  "notifications (calls to another chat than the update's) and broadcasts, all "
                                  "chats together (0: unlimited); replies are not counted here.", group="sender")
    send_global_burst: int = env("SEND_GLOBAL_BURST", integer(1, 1000000), 3, "Notifications and broadcasts "
                                 "the bot may send at once; the burst counts within Telegram's second, so burst plus "
                                 "the rest of that second stay within SEND_GLOBAL_RATE.", group="sender")
    send_bulk_reserve: int = env("SEND_BULK_RESERVE", integer(0, 1000000), 2, "Global slots broadcasts "
                                 "(ctx.call(..., _bulk=True)) leave free for notifications, so those never starve.",
                                 group="sender")
    send_paid_broadcast_rate: float = env("SEND_PAID_BROADCAST_RATE", number(0, 100000), 0.0, "Messages per "
                                          "second for calls with allow_paid_broadcast (a lane of their own; "
                                          "0: off, they share the global bucket).", group="sender")
    send_global_429_chats: int = env("SEND_GLOBAL_429_CHATS", integer(1, 1000), 3, "429s for this many "
                                     "different chats within 10 s freeze the whole bot, not just each chat.",
                                     group="sender")
    send_attempts: int = env("SEND_ATTEMPTS", integer(1, 100), 5, "Tries of a call that meets 5xx or network "
                             "errors before it is given up.", group="sender")
    send_timeout_s: float = env("SEND_TIMEOUT_S", number(1, 600), 30.0, "Timeout of one Bot API call.",
                                group="sender")
    send_pool_size: int = env("SEND_POOL_SIZE", integer(1, 10000), 100, "HTTP connections per worker to the "
                              "Bot API.", group="sender")

    # Redis
    redis_url: str = env("REDIS_URL", url("redis", "rediss", "unix"), "", "Redis URL (rediss:// for TLS, with the "
                         "REDIS_TLS_* files); overrides REDIS_HOST/PORT/PASSWORD. "
                         "Unset with REDIS_HOST unset: an embedded redis-server runs under STATE_DIR.",
                         secret=True, group="redis")
    redis_host: str = env("REDIS_HOST", host, "", "Redis host (used when REDIS_URL is unset).", group="redis")
    redis_port: int = env("REDIS_PORT", integer(1, 65535), 6379, "Redis port.", group="redis")
    redis_password: str = env("REDIS_PASSWORD", text, "", "Redis password.", secret=True, group="redis")
    redis_dedup_db: int = env("REDIS_DEDUP_DB", integer(0, 15), 0, "Redis database for the update pipeline "
                              "(leases, lanes, dedup).", group="redis")
    redis_session_db: int = env("REDIS_SESSION_DB", integer(0, 15), 1, "Redis database for sessions.", group="redis")
    redis_cache_db: int = env("REDIS_CACHE_DB", integer(0, 15), 2, "Redis database for the L2 user cache.",
                              group="redis")
    redis_allow_eviction: bool = env("REDIS_ALLOW_EVICTION", boolean, False, "Start even though the shared "
                                     "Redis has maxmemory set with an evicting maxmemory-policy (it can drop "
                                     "lanes, leases and the poll offset: lost updates). Set noeviction instead.",
                                     group="redis")

    # Redis Sentinel (failover): every client asks the Sentinels for the current master
    redis_sentinels: tuple = env("REDIS_SENTINELS", address_list, (), "Sentinels as host:port,host:port: "
                                 "botrunner asks them for the master of REDIS_SENTINEL_MASTER and follows a "
                                 "failover (REDIS_URL and REDIS_HOST must be unset; REDIS_PASSWORD is the "
                                 "master's password).", group="redis_sentinel")
    redis_sentinel_master: str = env("REDIS_SENTINEL_MASTER", pattern(r"[A-Za-z0-9._-]{1,128}",
                                     "a Sentinel master name (A-Z a-z 0-9 . _ -)"), "mymaster",
                                     "The master name the Sentinels monitor (`sentinel monitor <name> ...`).",
                                     group="redis_sentinel")
    redis_sentinel_password: str = env("REDIS_SENTINEL_PASSWORD", text, "", "Password of the Sentinels "
                                       "themselves (their requirepass), when they have one.", secret=True,
                                       group="redis_sentinel")
    redis_sentinel_username: str = env("REDIS_SENTINEL_USERNAME", text, "", "ACL user for the Sentinels "
                                       "(unset: the default user).", group="redis_sentinel")
    redis_username: str = env("REDIS_USERNAME", text, "", "ACL user for the master and replicas with "
                              "REDIS_SENTINELS (unset: the default user).", group="redis_sentinel")
    lease_wait_replicas: int = env("LEASE_WAIT_REPLICAS", integer(0, 64), 0, "A lease (poll lease, lane "
                                   "lease) counts as taken or renewed only once WAIT says this many replicas "
                                   "have it, so a failover cannot hand it to a second owner. Unset with "
                                   "REDIS_SENTINELS: 1 (0: off).", group="redis_sentinel")

    # Redis Cluster: one key layout for both modes (botrunner/redis_keys.py); slots spread the lanes
    redis_cluster: bool = env("REDIS_CLUSTER", boolean, False, "REDIS_URL (or REDIS_HOST/PORT) names any node "
                              "of a Redis Cluster: botrunner reads the slot map from it and spreads the lanes "
                              "over the masters. Every REDIS_*_DB is database 0 there (the key names keep "
                              "them apart). Not with REDIS_SENTINELS. INTAKE_WAIT_REPLICAS / LEASE_WAIT_REPLICAS "
                              "wait on every master a write went to.", group="redis_cluster")

    # Redis TLS: rediss:// in REDIS_URL, or REDIS_SENTINEL_TLS; the files are checked at start (redis_tls.py)
    redis_tls_ca_file: str = env("REDIS_TLS_CA_FILE", text, "", "PEM file of the CA certificate(s) the Redis "
                                 "servers' (and Sentinels') certificates are checked against (unset: the system's "
                                 "CAs). Needs TLS: REDIS_URL=rediss://... or REDIS_SENTINEL_TLS=true.",
                                 group="redis_tls")
    redis_tls_cert_file: str = env("REDIS_TLS_CERT_FILE", text, "", "PEM client certificate botrunner shows "
                                   "servers that require one (tls-auth-clients yes: mutual TLS); with "
                                   "REDIS_TLS_KEY_FILE.", group="redis_tls")
    redis_tls_key_file: str = env("REDIS_TLS_KEY_FILE", text, "", "PEM private key of REDIS_TLS_CERT_FILE "
                                  "(unencrypted; keep it readable by the service user only).", group="redis_tls")
    redis_tls_verify: str = env("REDIS_TLS_VERIFY", choice("full", "ca", "none"), "full", "full: a server's "
                                "certificate must be signed by the CA and name the host botrunner connects to; "
                                "ca: signed by the CA, any name (servers reached at an address their certificate "
                                "does not list); none: not checked at all (encrypted, but any impostor is "
                                "accepted).", group="redis_tls")
    redis_sentinel_tls: bool = env("REDIS_SENTINEL_TLS", boolean, False, "With REDIS_SENTINELS: the Sentinels and "
                                   "the master and replicas they name are reached over TLS (their tls-port), with "
                                   "the REDIS_TLS_* files.", group="redis_tls")

    # Storage
    mongodb_url: str = env("MONGODB_URL", mongo_url, "", "MongoDB URL (production). Unset: SQLite "
                           "under STATE_DIR.", secret=True, group="storage")
    mongodb_db: str = env("MONGODB_DB", pattern(r"[A-Za-z0-9_-]{1,63}", "1..63 characters of A-Z a-z 0-9 _ -"),
                          "", "Database name when MONGODB_URL names none (unset: botrunner_<bot id>, so bots "
                          "sharing a MongoDB never share data).", group="storage")
    mongo_max_pool_size: int = env("MONGO_MAX_POOL_SIZE", integer(1, 10000), 200, "PyMongo maxPoolSize per worker: "
                                   "a host opens up to WORKERS x this (`check` prints the total).",
                                   group="storage")
    mongo_min_pool_size: int = env("MONGO_MIN_POOL_SIZE", integer(0, 10000), 20, "PyMongo minPoolSize per worker.",
                                   group="storage")
    mongo_timeout_ms: int = env("MONGO_TIMEOUT_MS", integer(100, 120000), 5000, "Server selection / connect / socket "
                                "timeout for MongoDB.", group="storage")
    sqlite_path: str = env("SQLITE_PATH", text, "", "SQLite file (default STATE_DIR/botrunner.sqlite3).",
                           group="storage")
    user_cache_size: int = env("USER_CACHE_SIZE", integer(0, 10_000_000), 50000, "L1 user cache entries per worker.",
                               group="storage")
    user_cache_ttl_ms: int = env("USER_CACHE_TTL_MS", integer(0, 86_400_000), 300000, "User cache entry lifetime "
                                 "(L1 and L2).", group="storage")
    cache_stats_interval_s: int = env("CACHE_STATS_INTERVAL_S", integer(0, 86400), 60, "Seconds between cache "
                                      "statistics log lines (0: off).", group="storage")
    session_ttl_s: int = env("SESSION_TTL_S", integer(60, 30 * 86400), 86400, "Conversation state lifetime.",
                             group="storage")
    session_encryption_key: str = env("SESSION_ENCRYPTION_KEY", text, "", "Key that encrypts sessions at rest "
                                      "(unset: stored in clear).", secret=True, group="storage")
    enable_referral_batching: bool = env("ENABLE_REFERRAL_BATCHING", boolean, True, "Batch referral credits and "
                                         "last_active writes into bulk writes.", group="storage")
    referral_batch_size: int = env("REFERRAL_BATCH_SIZE", integer(1, 10000), 50, "Flush a batch at this many items.",
                                   group="storage")
    referral_batch_interval_ms: int = env("REFERRAL_BATCH_INTERVAL_MS", integer(1, 60000), 100, "Flush a batch "
                                          "at least this often.", group="storage")

    # MiniApp captcha (botrunner.miniapp; names as operators of the Node bot know them)
    miniapp_rate_limit_max: int = env("MINIAPP_RATE_LIMIT_MAX", integer(1), 200, "MiniApp requests per 5 min per "
                                      "client IP (the peer, or X-Forwarded-For of WEB_TRUSTED_PROXIES); more: 429.",
                                      group="miniapp")
    miniapp_max_connections: int = env("MINIAPP_MAX_CONNECTIONS", integer(1), 10000, "MiniApp requests one "
                                       "worker handles at once; more: 503.", group="miniapp")
    miniapp_captcha_enabled: bool = env("MINIAPP_CAPTCHA_ENABLED", boolean, True, "New users pass the Mini App "
                                        "slider captcha first (needs MINIAPP_URL; the image captcha follows when "
                                        "CAPTCHA_ENABLED).", group="miniapp")
    miniapp_url: str = env("MINIAPP_URL", pattern(r"https://[^\s]+", "an https:// URL (Telegram opens only https)"),
                           "", "Public URL of the Mini App page (the web_app button's URL; unset: no Mini App).",
                           group="miniapp")
    miniapp_path: str = env("MINIAPP_PATH", pattern(r"/[A-Za-z0-9_/-]*[A-Za-z0-9_-]", "a path such as /miniapp"),
                            "/miniapp", "Path the workers serve the Mini App page and API under.", group="miniapp")
    miniapp_init_data_max_age_s: int = env("MINIAPP_INIT_DATA_MAX_AGE_S", integer(60, 86400), 3600, "Oldest "
                                           "initData auth_date accepted (seconds).", group="miniapp")
    miniapp_public_key: str = env("MINIAPP_PUBLIC_KEY", pattern(r"production|test|[0-9a-fA-F]{64}",
                                  "production, test or a 64-digit hex Ed25519 key"), "", "Validate initData by "
                                  "Telegram's Ed25519 signature with this key instead of the token's HMAC.",
                                  group="miniapp")
    fingerprint_salt: str = env("FINGERPRINT_SALT", text, "", "HMAC key of device fingerprints (required when the "
                                "Mini App is on; changing it forgets every device).", secret=True, group="miniapp")
    miniapp_device_collision: str = env("MINIAPP_DEVICE_COLLISION", choice("block", "flag", "off"), "block",
                                        "A device another account holds: block the new account, flag it (admins "
                                        "are told, it continues) or off.", group="miniapp")
    miniapp_device_change_allowed: bool = env("MINIAPP_DEVICE_CHANGE_ALLOWED", boolean, True, "An account "
                                              "verifying on a new device replaces its old one.", group="miniapp")
    miniapp_repeat_window_s: int = env("MINIAPP_REPEAT_WINDOW_S", integer(0, 3600), 10, "The same account and "
                                       "device verifying again within this gets 429 (0: off).", group="miniapp")
    miniapp_registrations_per_ip_per_day: int = env("MINIAPP_REGISTRATIONS_PER_IP_PER_DAY", integer(0, 1_000_000),
                                                    3, "New accounts verified from one client IP per 24 h (0: "
                                                    "no cap).", group="miniapp")
    miniapp_attempts_per_user: int = env("MINIAPP_ATTEMPTS_PER_USER", integer(1, 1000), 10, "Slider answers one "
                                         "account may give per MINIAPP_ATTEMPTS_WINDOW_S.", group="miniapp")
    miniapp_attempts_per_ip: int = env("MINIAPP_ATTEMPTS_PER_IP", integer(1, 100000), 30, "Slider answers one "
                                       "client IP may give per MINIAPP_ATTEMPTS_WINDOW_S.", group="miniapp")
    miniapp_attempts_window_s: int = env("MINIAPP_ATTEMPTS_WINDOW_S", integer(60, 86400), 1800, "Window of the "
                                         "attempt limits.", group="miniapp")
    fingerprint_ttl_days: int = env("FINGERPRINT_TTL_DAYS", integer(1, 3650), 90, "Days a device stays bound to "
                                    "its account after it was last seen.", group="miniapp")

    # The airdrop bot (handlers/): names as operators of the Node bot know them
    admin_user_ids: tuple = env("ADMIN_USER_IDS", id_list, (), "Telegram ids allowed to run admin commands "
                                "(comma-separated). No default: unset means nobody is an admin.", group="bot")
    bot_username: str = env("BOT_USERNAME", pattern(r"[A-Za-z][A-Za-z0-9_]{3,31}", "a Telegram username without @"),
                            "airdrop_bot", "The bot's username, used in referral links.", group="bot")
    bot_name: str = env("BOT_NAME", text, "Airdrop Bot", "Name shown in the welcome text.", group="bot")
    required_channel_id: str = env("REQUIRED_CHANNEL_ID", pattern(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20}",
                                   "@channelusername or a numeric chat id"), "", "Channel users must join "
                                   "(channel task, withdraw gate).", group="bot")
    withdraw_alert_channel_id: str = env("WITHDRAW_ALERT_CHANNEL_ID", pattern(
        r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20}", "@channelusername or a numeric chat id"), "",
        "Chat that gets an alert for every withdrawal request (unset: none).", group="bot")
    referral_bonus: int = env("REFERRAL_BONUS", integer(0, 1_000_000), 15, "Points the referrer gets once the "
                              "referred user passes the captcha.", group="bot")
    referral_welcome_bonus: int = env("REFERRAL_WELCOME_BONUS", integer(0, 1_000_000), 7, "Points a referred "
                                      "user gets after the captcha.", group="bot")
    referral_welcome_bonus_enabled: bool = env("REFERRAL_WELCOME_BONUS_ENABLED", boolean, True,
                                               "Pay REFERRAL_WELCOME_BONUS at all.", group="bot")
    referral_late_code_window_s: int = env("REFERRAL_LATE_CODE_WINDOW_S", integer(0, 365 * 86400), 86400,
                                           "A referral code entered after joining (/code) is accepted only from "
                                           "accounts younger than this, and before their first withdrawal.",
                                           group="bot")
    referral_code_length: int = env("REFERRAL_CODE_LENGTH", integer(4, 16), 8, "Longest custom referral code "
                                    "(codes are 4..this many of A-Z 0-9 _).", group="bot")
    referral_task_threshold: int = env("REFERRAL_TASK_THRESHOLD", integer(1, 10000), 3, "Referrals the "
                                       "'invite friends' task needs.", group="bot")
    min_withdraw_points: int = env("MIN_WITHDRAW_POINTS", integer(1, 10**12), 100, "Smallest balance that can "
                                   "be withdrawn.", group="bot")
    points_to_token_conversion_rate: float = env("POINTS_TO_TOKEN_CONVERSION_RATE", number(0, 1e9), 0.001,
                                                 "Tokens per point (the dashboard's estimate).", group="bot")
    token_symbol: str = env("TOKEN_SYMBOL", pattern(r"[A-Za-z0-9$]{1,12}", "1..12 letters or digits"), "TOKEN",
                            "Token symbol shown next to estimates.", group="bot")
    withdraw_require_channel_join: bool = env("WITHDRAW_REQUIRE_CHANNEL_JOIN", boolean, False, "Only members of "
                                              "REQUIRED_CHANNEL_ID may withdraw (checked again at confirmation).",
                                              group="bot")
    withdraw_confirm_timeout_s: int = env("WITHDRAW_CONFIRM_TIMEOUT_S", integer(10, 86400), 600, "A withdrawal "
                                          "confirmation button expires after this long.", group="bot")
    withdraw_mode: str = env("WITHDRAW_MODE", choice("manual", "claim"), "manual", "manual: admins pay and "
                             "run /paid; claim: the bot signs a claim the user redeems on CLAIM_CONTRACT_ADDRESS "
                             "with claim(uint256 amount, uint256 nonce, bytes signature).", group="bot")
    claim_signer_private_key: str = env("CLAIM_SIGNER_PRIVATE_KEY", pattern(r"(0x)?[0-9a-fA-F]{64}",
                                        "64 hex digits (an EVM private key)"), "", "Key that signs claims "
                                        "(WITHDRAW_MODE=claim; offline, never sent anywhere; alias WALLET_PRIVATE_KEY).",
                                        secret=True, group="bot")
    claim_contract_address: str = env("CLAIM_CONTRACT_ADDRESS", pattern(r"0x[0-9a-fA-F]{40}", "0x and 40 hex "
                                      "digits"), "", "The claim contract users call (alias TOKEN_CONTRACT_ADDRESS).",
                                      group="bot")
    token_decimals: int = env("TOKEN_DECIMALS", integer(0, 36), 18, "Decimals of the token: a claim's amount is "
                              "points x POINTS_TO_TOKEN_CONVERSION_RATE x 10^TOKEN_DECIMALS base units.", group="bot")
    transfer_alert_channel_id: str = env("TRANSFER_ALERT_CHANNEL_ID", pattern(
        r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20}", "@channelusername or a numeric chat id"), "",
        "Chat that gets an alert for every transfer (unset: WITHDRAW_ALERT_CHANNEL_ID; both unset: none).",
        group="bot")
    wallet_change_allowed: bool = env("WALLET_CHANGE_ALLOWED", boolean, True, "Users may replace their wallet "
                                      "address (false: the first one is final).", group="bot")
    wallet_change_cooldown_s: int = env("WALLET_CHANGE_COOLDOWN_S", integer(0, 365 * 86400), 86400,
                                        "Shortest time between two wallet changes.", group="bot")
    transfer_enabled: bool = env("TRANSFER_ENABLED", boolean, True, "Users may send points to each other.",
                                 group="bot")
    transfer_min_points: int = env("TRANSFER_MIN_POINTS", integer(1, 10**12), 50, "Smallest transfer.", group="bot")
    transfer_max_points: int = env("TRANSFER_MAX_POINTS", integer(1, 10**12), 10000, "Largest transfer.",
                                   group="bot")
    transfer_max_daily_points: int = env("TRANSFER_MAX_DAILY_POINTS", integer(1, 10**12), 1000, "Points one "
                                         "user may send in 24 hours (enforced).", group="bot")
    transfer_daily_limit: int = env("TRANSFER_DAILY_LIMIT", integer(1, 1000), 1, "Transfers one user may send "
                                    "in 24 hours (enforced).", group="bot")
    transfer_fee_percentage: float = env("TRANSFER_FEE_PERCENTAGE", number(0, 100), 2.0, "Fee (burned), in "
                                         "percent of the amount, rounded down.", group="bot")
    transfer_confirm_timeout_s: int = env("TRANSFER_CONFIRM_TIMEOUT_S", integer(10, 86400), 300, "A transfer "
                                          "confirmation button expires after this long.", group="bot")
    captcha_enabled: bool = env("CAPTCHA_ENABLED", boolean, True, "New (and flagged) users solve an image "
                                "captcha before any command but /start and /help works.", group="bot")
    captcha_max_attempts: int = env("CAPTCHA_MAX_ATTEMPTS", integer(1, 20), 3, "Wrong answers allowed per "
                                    "captcha.", group="bot")
    captcha_session_timeout: int = env("CAPTCHA_SESSION_TIMEOUT", integer(10_000, 3_600_000), 300000,
                                       "Milliseconds a captcha stays valid; also the lock-out after too many "
                                       "wrong answers.", group="bot")
    captcha_length: int = env("CAPTCHA_LENGTH", integer(4, 8), 5, "Characters in a captcha.", group="bot")
    captcha_pool_size: int = env("CAPTCHA_POOL_SIZE", integer(0, 100_000), 512, "Captcha pictures each worker "
                                 "renders ahead while it is quiet (about 4 KB each), so a burst of new users is "
                                 "not slowed by drawing them; each is shown once, to one user. 0: draw each "
                                 "when asked.", group="bot")
    daily_bonus: int = env("DAILY_BONUS", integer(0, 1_000_000), 10, "Points for the daily check-in task.",
                           group="bot")
    daily_task_reset_interval_s: int = env("DAILY_TASK_RESET_INTERVAL_S", integer(60, 30 * 86400), 86400,
                                           "Cooldown of the daily check-in.", group="bot")
    points_channel_join: int = env("POINTS_CHANNEL_JOIN", integer(0, 1_000_000), 10, "Points for the "
                                   "channel task.", group="bot")
    points_twitter_follow: int = env("POINTS_TWITTER_FOLLOW", integer(0, 1_000_000), 15, "Points for the X "
                                     "follow task (proof).", group="bot")
    points_retweet: int = env("POINTS_RETWEET", integer(0, 1_000_000), 10, "Points for the retweet task "
                              "(proof).", group="bot")
    points_per_referral: int = env("POINTS_PER_REFERRAL", integer(0, 1_000_000), 25, "Points for the 'invite "
                                   "friends' task.", group="bot")
    points_premium_member: int = env("POINTS_PREMIUM_MEMBER", integer(0, 1_000_000), 50, "Points for the "
                                     "Telegram Premium task.", group="bot")
    task_twitter_profile: str = env("TASK_TWITTER_PROFILE", url("https"), "", "X profile to follow (unset: no "
                                    "follow task).", group="bot")
    task_twitter_tweet: str = env("TASK_TWITTER_TWEET", url("https"), "", "Tweet to retweet (unset: no "
                                  "retweet task).", group="bot")
    bot_website: str = env("BOT_WEBSITE", url("https", "http"), "", "Website for the 'open a link' task "
                           "(unset: no such task).", group="bot")
    auto_approve_submissions: bool = env("AUTO_APPROVE_SUBMISSIONS", boolean, False, "Default tasks with proof "
                                         "pay at once instead of waiting for review.", group="bot")
    rate_limit_commands_per_min: int = env("RATE_LIMIT_COMMANDS_PER_MIN", integer(1, 10000), 10, "Commands and "
                                           "button presses per user per minute.", group="bot")
    rate_limit_window_s: int = env("RATE_LIMIT_WINDOW_S", integer(1, 3600), 60, "The window "
                                   "RATE_LIMIT_COMMANDS_PER_MIN counts in (a fixed window, in seconds); keep 60 "
                                   "unless testing.", group="bot")
    rate_limit_sensitive_per_hour: int = env("RATE_LIMIT_SENSITIVE_PER_HOUR", integer(1, 10000), 10,
                                             "Withdraw, transfer, wallet and proof actions per user per hour.",
                                             group="bot")
    rate_limit_submissions_per_hour: int = env("RATE_LIMIT_SUBMISSIONS_PER_HOUR", integer(1, 10000), 3,
                                               "Proof submissions per user per hour.", group="bot")
    rate_limit_wallet_changes_per_day: int = env("RATE_LIMIT_WALLET_CHANGES_PER_DAY", integer(1, 10000), 5,
                                                 "Wallet changes per user per 24 hours.", group="bot")
    rate_limit_referral_code_per_hour: int = env("RATE_LIMIT_REFERRAL_CODE_PER_HOUR", integer(1, 10000), 1,
                                                 "Custom referral code attempts per user per hour.", group="bot")
    rate_limit_point_claims_per_hour: int = env("RATE_LIMIT_POINT_CLAIMS_PER_HOUR", integer(1, 10000), 20,
                                                "Task checks that pay points (Verify, Check in, Done) per user per "
                                                "hour.", group="bot")
    rate_limit_admin_actions_per_min: int = env("RATE_LIMIT_ADMIN_ACTIONS_PER_MIN", integer(1, 100000), 100,
                                                "Admin commands and buttons per admin per minute (admins are "
                                                "exempt from every user limit).", group="bot")
    spam_warn_threshold: int = env("SPAM_WARN_THRESHOLD", integer(1, 1000), 5, "Unknown messages per "
                                   "minute that draw a warning.", group="bot")
    spam_freeze_threshold: int = env("SPAM_FREEZE_THRESHOLD", integer(1, 1000), 8, "Unknown messages per "
                                     "minute that freeze the user.", group="bot")
    spam_freeze_minutes: int = env("SPAM_FREEZE_MINUTES", integer(1, 10080), 10, "How long a spam freeze "
                                   "lasts.", group="bot")
    spam_window_ms: int = env("SPAM_WINDOW_MS", integer(1000, 3_600_000), 60000, "Window the spam "
                              "thresholds count unknown messages in.", group="bot")
    spam_warning_cooldown_ms: int = env("SPAM_WARNING_COOLDOWN_MS", integer(1000, 86_400_000), 300000,
                                        "Shortest time between two 'unknown command' hints to one user.",
                                        group="bot")
    maintenance_mode: bool = env("MAINTENANCE_MODE", boolean, False, "Start in maintenance (users get "
                                 "MAINTENANCE_MESSAGE, admins keep working) until an admin runs /maintenance "
                                 "off. The Node bot's BOT_STATUS=false means the same.", group="bot")
    maintenance_message: str = env("MAINTENANCE_MESSAGE", text, "", "Text users get during maintenance "
                                   "(unset: the catalog's text).", group="bot")
    admin_chat_id: str = env("ADMIN_CHAT_ID", pattern(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20}",
                             "@channelusername or a numeric chat id"), "", "Chat that gets the scheduled user "
                             "export (alias ADMIN_TELEGRAM_ID).", group="bot")
    enable_user_data_export: bool = env("ENABLE_USER_DATA_EXPORT", boolean, False, "Send every user as gzip "
                                        "CSV to ADMIN_CHAT_ID every USER_DATA_EXPORT_INTERVAL_HOURS (one worker "
                                        "of the cluster does it).", group="bot")
    user_data_export_interval_hours: int = env("USER_DATA_EXPORT_INTERVAL_HOURS", hours(1, 24 * 31), 24,
                                               "Hours between scheduled exports (alias USER_DATA_EXPORT_INTERVAL, "
                                               "'24h' works too).", group="bot")
    leaderboard_cache_s: int = env("LEADERBOARD_CACHE_S", integer(0, 3600), 30, "Seconds leaderboards and "
                                   "ranks are cached.", group="bot")
    support_username: str = env("SUPPORT_USERNAME", text, "", "Shown in /help (unset: tickets only).",
                                group="bot")
    texts_dir: str = env("TEXTS_DIR", text, "", "Directory of <lang>.json files overriding any bot text.",
                         group="bot")
    bot_api_timeout_s: float = env("BOT_API_TIMEOUT_S", number(0.5, 30), 5.0, "Timeout of the Bot API calls "
                                   "handlers wait for (getChatMember).", group="bot")
    # Broadcasts (handlers.broadcast_engine)
    broadcast_lease_ttl_ms: int = env("BROADCAST_LEASE_TTL_MS", integer(1000, 600000), 30000, "Lease of the "
                                      "worker sending a broadcast: another worker takes over this long after "
                                      "the owner died.", group="bot")
    broadcast_check_s: float = env("BROADCAST_CHECK_S", number(0.1, 600), 2.0, "How often every worker looks "
                                   "for a running broadcast nobody owns.", group="bot")

    # Logging
    log_level: str = env("LOG_LEVEL", choice("trace", "debug", "info", "success", "warning", "error", "critical"),
                         "info", "Lowest level logged.", group="logging")
    log_format: str = env("LOG_FORMAT", choice("text", "json"), "text", "text: human-readable; json: one JSON "
                          "object per line (journald, log shippers).", group="logging")
    log_dir: str = env("LOG_DIR", text, "", "Also write rotating log files here.", group="logging")
    log_rotation: str = env("LOG_ROTATION", pattern(r"\d+ ?(B|KB|MB|GB)", "a size such as '50 MB'"), "50 MB",
                            "Rotate a log file at this size.", group="logging")
    log_retention: int = env("LOG_RETENTION", integer(1, 1000), 10, "Rotated log files kept.", group="logging")

    # Metrics and health (docs/monitoring.md)
    metrics_enabled: bool = env("METRICS_ENABLED", boolean, True, "Serve METRICS_PATH (Prometheus), /healthz and "
                                "/readyz from every worker: on METRICS_LISTEN, and on the webhook server.",
                                group="metrics")
    metrics_path: str = env("METRICS_PATH", pattern(r"/[A-Za-z0-9_./-]*", "a path starting with /"), "/metrics",
                            "Path of the Prometheus scrape endpoint.", group="metrics")
    metrics_listen: str = env("METRICS_LISTEN", pattern(r"(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]*):\d{1,5}",
                                                        "host:port, such as 127.0.0.1:9464"), "",
                              "Serve METRICS_PATH, /healthz and /readyz on this address of their own (every worker, "
                              "SO_REUSEPORT), so the metrics are not public. Unset: only the webhook server "
                              "(webhook mode) serves them.",
                              group="metrics")
    prometheus_multiproc_dir: str = env("PROMETHEUS_MULTIPROC_DIR", text, "", "Directory of the per-process metric "
                                        "files (default STATE_DIR/metrics); emptied when the supervisor starts.",
                                        group="metrics")
    ready_max_poll_age_s: int = env("READY_MAX_POLL_AGE_S", integer(5, 86400), 90, "/readyz fails when no "
                                    "getUpdates answer was stored for this long (polling only).", group="metrics")
    ready_max_lane_lag_s: int = env("READY_MAX_LANE_LAG_S", integer(1, 86400), 300, "/readyz fails when an update "
                                    "has waited this long in a lane.", group="metrics")

    # Admin web (handlers.admin_web; docs/admin-api.md)
    admin_public_url: str = env("ADMIN_PUBLIC_URL", pattern(r"https?://(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?",
                                                            "http(s)://host[:port], without a path or a trailing slash"),
                                "", "Address operators open the admin panel at (the bot's /login links point to "
                                "it + /admin/login). Unset: no admin panel.", group="admin_web")
    admin_session_ttl_s: int = env("ADMIN_SESSION_TTL_S", integer(300, 30 * 86400), 43200, "An admin web session "
                                   "ends this long after its login.", group="admin_web")
    admin_login_ttl_s: int = env("ADMIN_LOGIN_TTL_S", integer(30, 3600), 600, "A /login link is valid this long "
                                 "(and once).", group="admin_web")
    super_admin_user_ids: tuple = env("SUPER_ADMIN_USER_IDS", id_list, (), "Telegram ids that are super admins of "
                                      "the admin web: they grant roles to others (comma-separated).", group="admin_web")

    # ---- derived values: computed, never read from the environment ----

    @property
    def embedded_redis(self) -> bool:
        """True when no Redis was configured and the supervisor runs its own."""
        return not (self.redis_url or self.redis_host or self.redis_sentinels)

    @property
    def redis_tls(self) -> bool:
        """True when botrunner reaches Redis over TLS: a rediss:// REDIS_URL, or REDIS_SENTINEL_TLS."""
        return self.redis_url.startswith("rediss://") or (self.redis_sentinel_tls and bool(self.redis_sentinels))

    @property
    def state_path(self) -> Path:
        """STATE_DIR as an absolute path (a relative one depends on the directory a command runs in)."""
        return Path(self.state_dir).expanduser().resolve()

    @property
    def embedded_redis_socket(self) -> str:
        return str(self.state_path / "redis" / "redis.sock")

    def redis_url_for(self, db: int) -> str:
        """URL of the configured (or embedded) Redis, selecting database `db`."""
        if self.redis_url:
            return _with_db(self.redis_url, db)
        if self.redis_host:
            auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
            host = f"[{self.redis_host}]" if ":" in self.redis_host and "[" not in self.redis_host else self.redis_host
            return f"redis://{auth}{host}:{self.redis_port}/{db}"
        return f"unix://{Path(self.embedded_redis_socket).resolve()}?db={db}"

    @property
    def mongodb_database(self) -> str:
        """The database botrunner uses: named in MONGODB_URL, else MONGODB_DB, else one per bot."""
        named = urlsplit(self.mongodb_url).path.lstrip("/") if self.mongodb_url else ""
        bot_id = self.bot_token.split(":", 1)[0] if ":" in self.bot_token else ""
        return named or self.mongodb_db or (f"botrunner_{bot_id}" if bot_id else "botrunner")

    @property
    def web_address(self) -> tuple[str, int]:
        """(host, port) the workers' HTTP server binds: WEB_LISTEN, its port replaced by WEBHOOK_PORT if set."""
        host, _, port = self.web_listen.rpartition(":")
        return host.strip("[]"), self.webhook_port or int(port)

    @property
    def miniapp_on(self) -> bool:
        """The Mini App captcha is served and asked for: MINIAPP_CAPTCHA_ENABLED with MINIAPP_URL."""
        return self.miniapp_captcha_enabled and bool(self.miniapp_url)

    @property
    def admin_web_on(self) -> bool:
        """The admin web is served: ADMIN_PUBLIC_URL is set."""
        return bool(self.admin_public_url)

    @property
    def sqlite_file(self) -> str:
        return self.sqlite_path or str(self.state_path / "botrunner.sqlite3")

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (CLI options override the environment this way).
        None means "not given" (an omitted option): that field keeps its value."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _with_db(redis_url: str, db: int) -> str:
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("db="))
        return f"unix://{parts.netloc}{parts.path}?" + "&".join(filter(None, [query, f"db={db}"]))
    return parts._replace(path=f"/{db}").geturl()


def options() -> list[dataclasses.Field]:
    """The declared settings, in declaration order."""
    return list(dataclasses.fields(Settings))


def read_source(environ: Mapping[str, str] | None = None,
                env_file: str | os.PathLike | None = ".env") -> dict[str, str]:
    """The raw variables: an optional .env file under `environ` (default os.environ)."""
    source: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    source.update(os.environ if environ is None else environ)
    return source


def config_notices(source: Mapping[str, str]) -> list[str]:
    """Lines to log once at start: the Node bot's names botrunner ignores, misspelt names (no values)."""
    return node_env.notices(source, (f.metadata["env"] for f in options()))


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = ".env",
                  **overrides: Any) -> Settings:
    """Build Settings from `environ` (default os.environ) over an optional .env file, then `overrides`.

    The process environment wins over the .env file, as with docker/systemd EnvironmentFile; the Node
    bot's names (node_env.ALIASES) fill botrunner names left unset. Empty strings count as unset.
    Raises ConfigError on the first invalid value; a secret's value is masked in the message.
    """
    source = node_env.apply_aliases(read_source(environ, env_file))
    values: dict[str, Any] = {}
    for f in options():
        raw = source.get(f.metadata["env"], "")
        if raw.strip() == "":
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            shown = mask(raw) if f.metadata["secret"] else raw
            raise ConfigError(f"{f.metadata['env']}={shown!r} is invalid: expected {exc}{_comment_hint(raw)}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    _sentinel_defaults(values)
    settings = Settings(**values)
    _check_consistency(settings)
    return settings


#: Settings whose default is 1 instead of 0 when REDIS_SENTINELS is set: with replicas, a write counts
#: only once a replica has it (a failover promotes a replica; what only the old master had is gone).
SENTINEL_WAITS = ("intake_wait_replicas", "lease_wait_replicas")


def _sentinel_defaults(values: dict[str, Any]) -> None:
    """With Sentinels, the replication waits left unset default to one replica."""
    if values.get("redis_sentinels"):
        for name in SENTINEL_WAITS:
            values.setdefault(name, 1)


def _check_cluster(s: Settings) -> None:
    """REDIS_CLUSTER needs a node to start from, and no setting that assumes one server."""
    if not s.redis_cluster:
        return
    if s.redis_sentinels:
        raise ConfigError("REDIS_CLUSTER=true is set together with REDIS_SENTINELS: expected one of them "
                          "(a Redis Cluster fails over by itself)")
    if not (s.redis_url or s.redis_host):
        raise ConfigError("REDIS_CLUSTER=true is invalid: expected REDIS_URL (or REDIS_HOST) naming a node "
                          "of the cluster")
    if s.redis_url.startswith("unix"):
        raise ConfigError("REDIS_CLUSTER=true is invalid with a unix socket REDIS_URL: expected redis:// or "
                          "rediss:// naming a node of the cluster")


def _comment_hint(raw: str) -> str:
    """systemd's EnvironmentFile= keeps `VALUE   # comment` whole; say so when that is the likely cause."""
    if re.search(r"\s#", raw):
        return (" (an inline comment? systemd's EnvironmentFile= keeps everything after '=' in the value; "
                "put comments on their own line)")
    return ""


def _check_consistency(s: Settings) -> None:
    _check_cluster(s)
    check_tls(s)
    if s.mongodb_url and dict(parse_qsl(urlsplit(s.mongodb_url).query)).get("w") == "0":
        raise ConfigError(f"MONGODB_URL={mask(s.mongodb_url)!r} is invalid: expected w=1, w=majority or no w "
                          "(w=0 leaves writes unacknowledged; an update is acknowledged only once its writes are stored)")
    if s.redis_sentinels and (s.redis_url or s.redis_host):
        raise ConfigError("REDIS_SENTINELS is set together with " + ("REDIS_URL" if s.redis_url else "REDIS_HOST")
                          + ": expected only one way to reach Redis (with Sentinels, unset REDIS_URL and REDIS_HOST)")
    if s.mongo_min_pool_size > s.mongo_max_pool_size:
        raise ConfigError(f"MONGO_MIN_POOL_SIZE={s.mongo_min_pool_size} is invalid: expected at most "
                          f"MONGO_MAX_POOL_SIZE ({s.mongo_max_pool_size})")
    if s.use_webhook and not s.webhook_url:
        raise ConfigError("USE_WEBHOOK=true is invalid: expected WEBHOOK_URL to be set as well")
    if s.use_webhook and not s.webhook_secret:
        raise ConfigError("USE_WEBHOOK=true is invalid: expected TELEGRAM_WEBHOOK_SECRET to be set as well "
                          "(generate one: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    default_listen = Settings.__dataclass_fields__["web_listen"].default
    if s.webhook_port and s.web_listen != default_listen and not s.web_listen.endswith(f":{s.webhook_port}"):
        raise ConfigError(f"WEBHOOK_PORT={s.webhook_port} is invalid: expected the port of WEB_LISTEN "
                          f"({s.web_listen}), or unset one of them")
    if s.transfer_min_points > s.transfer_max_points:
        raise ConfigError(f"TRANSFER_MIN_POINTS={s.transfer_min_points} is invalid: expected at most "
                          f"TRANSFER_MAX_POINTS ({s.transfer_max_points})")
    if s.withdraw_require_channel_join and not s.required_channel_id:
        raise ConfigError("WITHDRAW_REQUIRE_CHANNEL_JOIN=true is invalid: expected REQUIRED_CHANNEL_ID to be set as well")
    if s.miniapp_on and not s.fingerprint_salt:
        raise ConfigError("MINIAPP_URL is set with MINIAPP_CAPTCHA_ENABLED=true: expected FINGERPRINT_SALT to be set "
                          "as well (generate one: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if s.enable_user_data_export and not s.admin_chat_id:
        raise ConfigError("ENABLE_USER_DATA_EXPORT=true is invalid: expected ADMIN_CHAT_ID to be set as well")
    if s.withdraw_mode == "claim" and not (s.claim_signer_private_key and s.claim_contract_address):
        raise ConfigError("WITHDRAW_MODE=claim is invalid: expected CLAIM_SIGNER_PRIVATE_KEY and "
                          "CLAIM_CONTRACT_ADDRESS to be set as well")
    if s.spam_warn_threshold > s.spam_freeze_threshold:
        raise ConfigError(f"SPAM_WARN_THRESHOLD={s.spam_warn_threshold} is invalid: expected at most "
                          f"SPAM_FREEZE_THRESHOLD ({s.spam_freeze_threshold})")


#: Query parameters whose value is a credential (lower case, compared without - and _).
_SECRET_PARAMS = ("password", "pass", "pwd", "secret", "token", "key", "apikey", "accesskey", "auth",
                  "authmechanismproperties", "tlscertificatekeyfilepassword", "credential", "signature", "sig")


def mask(value: Any) -> str:
    """Hide a secret, keeping just enough to recognise which one it is: a URL keeps its host and
    path but loses its password and credential query parameters; a bot token keeps its bot id."""
    text_value = str(value)
    if not text_value:
        return ""
    if "://" in text_value and urlsplit(text_value).scheme:
        return _mask_url(text_value)
    head = text_value.split(":", 1)[0]
    if ":" in text_value and head.isascii() and head.isdigit():  # bot token: keep the bot id
        return head + ":****"
    return "****"


def _mask_url(raw: str) -> str:
    """`raw` with its password and credential query values replaced; otherwise exactly as written."""
    try:
        parts = urlsplit(raw)
        password = parts.password
    except ValueError:                 # unparseable (a bad port, say): show only the scheme
        return raw.split("://", 1)[0] + "://****"
    masked = raw
    if password:
        userinfo, host = parts.netloc.rsplit("@", 1)
        masked = masked.replace(f"{parts.netloc}", f"{userinfo.split(':', 1)[0]}:****@{host}", 1)
    if parts.query and any(_secret_param(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True)):
        pairs = [(k, "****" if _secret_param(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        masked = masked.replace("?" + parts.query, "?" + urlencode(pairs, safe="*,:/"), 1)
    return masked


def _secret_param(name: str) -> bool:
    word = name.lower().replace("-", "").replace("_", "")
    return any(word == p or word.endswith(p) for p in _SECRET_PARAMS)


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, effective value with secrets masked, source note) for `botrunner config`."""
    rows = []
    for f in options():
        value = getattr(settings, f.name)
        shown = mask(value) if f.metadata["secret"] else show_value(value)
        rows.append((f.metadata["env"], shown, "default" if value == f.default else "set"))
    return rows


def show_value(value: Any) -> str:
    """A setting as the operator writes it (booleans as true/false, lists comma-separated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
