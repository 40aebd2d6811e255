"""`botrunner check`: verify that everything the runner needs is reachable and safe before starting it.

Each check returns its one-line finding or raises; a raised error becomes a FAIL line in the
operator's words (`operator_errors.one_line`), and one failing check does not stop the others.
A check fails for what would break the service (a webhook blocking getUpdates, an evicting Redis,
SQLite shared across hosts, an env file systemd reads differently), not only for what is down.
"""
from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from botrunner import redis_clients
from botrunner.config.settings import Settings, mask
from botrunner.errors import EmbeddedRedisError, OperatorError
from botrunner.redis_keys import Keys
from botrunner.supervisor.embedded_redis import server_binary
from botrunner.supervisor.pipeline_guard import guard_pipeline
from botrunner.tools.env_file import systemd_mismatches
from botrunner.tools.operator_errors import one_line, redis_where

DEFAULT_API = "https://api.telegram.org"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def run_checks(settings: Settings, env_file: str | None = None, env_file_named: bool = False) -> list[CheckResult]:
    """Run every check; one failing does not stop the others. `env_file_named`: the operator gave
    the file (--env-file or BOTRUNNER_ENV_FILE), so a missing one is a failure, not the default."""
    checks: list[tuple[str, Callable[[Settings], str]]] = [
        ("state directory", check_state_dir),
        ("log directory", check_log_dir),
        ("redis", check_redis),
        ("database", check_database),
        ("bot api", check_bot_api),
        ("webhook", check_webhook),
    ]
    results = [CheckResult("configuration", True, f"valid (api {settings.telegram_api_url})")]
    if env_file and (env_file_named or Path(env_file).is_file()):
        checks.insert(0, ("env file", lambda s: check_env_file(env_file)))
    for name, check in checks:
        try:
            results.append(CheckResult(name, True, check(settings)))
        except Exception as exc:  # each check reports its own failure as one line
            results.append(CheckResult(name, False, one_line(exc, settings)))
    return results


def check_env_file(path: str) -> str:
    if not Path(path).is_file():
        raise OperatorError(f"{path} does not exist: every setting came from the environment and defaults")
    problems = systemd_mismatches(path)
    if problems:
        raise OperatorError(f"{path}: " + "; ".join(problems))
    return f"{path} reads the same under systemd's EnvironmentFile= and --env-file"


def check_state_dir(settings: Settings) -> str:
    path = settings.state_path
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write-test-{uuid.uuid4().hex}"
    probe.write_bytes(b"x" * 4096)  # a full disk fails here, not in the middle of a run
    probe.unlink()
    relative = "" if Path(settings.state_dir).is_absolute() else (
        f" (STATE_DIR={settings.state_dir} is relative to this directory: set an absolute path)")
    return f"{path} is writable{relative}"


def check_log_dir(settings: Settings) -> str:
    if not settings.log_dir:
        return "LOG_DIR unset: logs go to stderr (the journal under systemd)"
    path = Path(settings.log_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write-test-{uuid.uuid4().hex}"
    probe.write_bytes(b"x")
    probe.unlink()
    inside = path == settings.state_path or settings.state_path in path.parents
    note = "" if inside else ("; under the shipped unit only STATE_DIR is writable (ProtectSystem=strict): "
                              "put LOG_DIR inside it or add it to ReadWritePaths=")
    return f"{path} is writable{note}"


def check_redis(settings: Settings) -> str:
    if settings.embedded_redis:
        binary = server_binary()
        if len(settings.embedded_redis_socket) > 100:
            raise EmbeddedRedisError("STATE_DIR path too long for a unix socket; use a shorter STATE_DIR")
        return (f"embedded redis-server ({binary}) will run under {settings.state_path}/redis; one host only: "
                "set REDIS_URL for a shared Redis")
    client = redis_clients.sync_client(settings, settings.redis_dedup_db, timeout=3)
    server: Any = client.info("server")
    version = server["redis_version"]
    accepted = guard_pipeline(settings, client, Keys.for_token(settings.bot_token))
    policy = "; ".join(accepted) or "keys cannot be evicted"
    replication = (f"; {replication_line(settings, client)}" if settings.redis_sentinels else
                   f"; {cluster_replication_line(settings, client)}" if settings.redis_cluster else "")
    return f"{redis_where(settings)} answers (redis {version}){replication}; {policy}"


def replication_line(settings: Settings, client: Any) -> str:
    """The master the Sentinels name and its replicas; fails when fewer are connected than the waits need."""
    host, port = redis_clients.sentinel_client(settings).discover_master(settings.redis_sentinel_master)
    connected = int(client.info("replication").get("connected_slaves", 0))
    needed = max(settings.intake_wait_replicas, settings.lease_wait_replicas)
    if connected < needed:
        raise OperatorError(f"the master {host}:{port} has {connected} replica(s) connected, but INTAKE_WAIT_REPLICAS/"
                            f"LEASE_WAIT_REPLICAS need {needed}: nothing would count as stored; start the replicas")
    spare = "" if connected > needed else f" (one down stops intake until it is back: run {needed + 1})"
    return f"master {host}:{port}, {connected} replica(s) connected, waits need {needed}{spare}"


def cluster_replication_line(settings: Settings, client: Any) -> str:
    """Each cluster master's connected replicas; fails when one has fewer than the replication waits need
    (a batch or a lease on its lanes would never count as stored: every master the writes go to is waited for)."""
    from redis.cluster import RedisCluster
    replies = client.info("replication", target_nodes=RedisCluster.PRIMARIES)
    counts = {name: int(info.get("connected_slaves", 0)) for name, info in replies.items()}
    needed = max(settings.intake_wait_replicas, settings.lease_wait_replicas)
    short = sorted(name for name, connected in counts.items() if connected < needed)
    if short:
        listed = ", ".join(f"{name} ({counts[name]})" for name in short)
        raise OperatorError(f"cluster master(s) {listed} have fewer replicas connected than INTAKE_WAIT_REPLICAS/"
                            f"LEASE_WAIT_REPLICAS need ({needed}): nothing on their lanes would count as stored; "
                            "start the replicas, or lower the waits")
    fewest = min(counts.values(), default=0)
    spare = "" if needed == 0 or fewest > needed else \
        f" (one down stops its master's lanes until it is back: run {needed + 1} per master)"
    return f"{len(counts)} masters, {fewest} to {max(counts.values(), default=0)} replica(s) each, waits need {needed}{spare}"


def mongo_pool_line(settings: Settings) -> str:
    """Connections this host opens at most: every worker has its own client and pool."""
    total, floor = settings.workers * settings.mongo_max_pool_size, settings.workers * settings.mongo_min_pool_size
    return (f"pool: WORKERS {settings.workers} x MONGO_MAX_POOL_SIZE {settings.mongo_max_pool_size} = up to {total} "
            f"connections per replica-set member from this host ({floor} kept open); multiply by the hosts")


def check_database(settings: Settings) -> str:
    if settings.mongodb_url:
        import pymongo
        timeout = settings.mongo_timeout_ms
        client: pymongo.MongoClient = pymongo.MongoClient(settings.mongodb_url, serverSelectionTimeoutMS=timeout,
                                                          connectTimeoutMS=timeout)
        try:
            version = client.server_info()["version"]
        finally:
            client.close()
        return f"MongoDB {version} at {mask(settings.mongodb_url)}; {mongo_pool_line(settings)}"
    Path(settings.sqlite_file).parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(settings.sqlite_file, timeout=5) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    return f"SQLite {sqlite3.sqlite_version} at {settings.sqlite_file} (one VM only; MONGODB_URL for several)"


def _local_only(settings: Settings) -> bool:
    if settings.bot_token:
        return False
    if settings.telegram_api_url == DEFAULT_API:
        raise OperatorError("BOT_TOKEN is not set (required unless --api-url points at a local Bot API server)")
    return True


def check_bot_api(settings: Settings) -> str:
    base = settings.telegram_api_url
    if _local_only(settings):
        httpx.get(base, timeout=5)  # any HTTP answer proves the server is there
        return f"{base} answers; BOT_TOKEN unset, getMe skipped"
    reply = httpx.get(f"{base}/bot{settings.bot_token}/getMe", timeout=10).json()
    if not reply.get("ok"):
        raise OperatorError(f"getMe failed: {reply.get('error_code')} {reply.get('description')} via {base}"
                            + ("; check BOT_TOKEN" if reply.get("error_code") in (401, 404) else ""))
    return f"getMe: @{reply['result'].get('username')} (id {reply['result']['id']}) via {base}"


def check_webhook(settings: Settings) -> str:
    if not settings.bot_token:
        return "BOT_TOKEN unset, getWebhookInfo skipped"
    reply = httpx.get(f"{settings.telegram_api_url}/bot{settings.bot_token}/getWebhookInfo", timeout=10).json()
    if not reply.get("ok"):
        raise OperatorError(f"getWebhookInfo failed: {reply.get('error_code')} {reply.get('description')}")
    info = reply["result"]
    if settings.use_webhook:
        return webhook_mode_line(settings, info)
    if info.get("url"):
        raise OperatorError(
            f"a webhook is set ({info['url']}, {info.get('pending_update_count', 0)} updates pending): botrunner "
            "long-polls and getUpdates answers 409 while it is set; remove it, keeping the pending updates: "
            "curl -s \"https://api.telegram.org/bot$BOT_TOKEN/deleteWebhook\"")
    return f"no webhook set; {info.get('pending_update_count', 0)} update(s) waiting for getUpdates"


def webhook_mode_line(settings: Settings, info: dict) -> str:
    """USE_WEBHOOK=true: `start` registers WEBHOOK_URL itself; report what Telegram has now."""
    from botrunner.intake.webhook_registration import set_problem
    problem = set_problem(settings)
    if problem:
        raise OperatorError(problem)
    current, pending = info.get("url") or "", info.get("pending_update_count", 0)
    last = f"; last delivery error: {info['last_error_message']}" if info.get("last_error_message") else ""
    if current == settings.webhook_url:
        return f"USE_WEBHOOK=true: webhook set to {current}, {pending} pending{last}"
    return (f"USE_WEBHOOK=true: Telegram has {current or 'no webhook'}; `start` registers {settings.webhook_url} "
            f"(`botrunner webhook set` does it now){last}")
