"""Failures of operator commands, said in one line that names what failed and where.

The CLI catches every exception of a command at one boundary and prints `one_line(exc)`; `check`
uses the same words for each failed check. A driver's multi-kilobyte message (PyMongo's topology
description, a Redis connection's errno chain) is cut to the part that says what happened, and
the URL is named with its password masked. Nothing here prints a secret.
"""
from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING

import httpx
import redis

from botrunner.config.settings import mask
from botrunner.errors import OperatorError

if TYPE_CHECKING:
    from botrunner.config.settings import Settings

MAX_DETAIL = 200
_TOKEN_IN_URL = re.compile(r"/bot\d+:[^/\s'\"]+")


def hide_token(text: str) -> str:
    """Bot API URLs carry the token in their path: replace it."""
    return _TOKEN_IN_URL.sub("/bot<BOT_TOKEN>", text)


def short(text: str, limit: int = MAX_DETAIL) -> str:
    """The first line of a message, at most `limit` characters."""
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[: limit - 3] + "..."


def redis_where(settings: Settings | None) -> str:
    """The Redis a command talks to, as the operator configured it (password masked)."""
    if settings is None:
        return "Redis"
    if settings.embedded_redis:
        return f"the embedded Redis of STATE_DIR={settings.state_path} ({settings.embedded_redis_socket})"
    if settings.redis_sentinels:
        return (f"Redis master {settings.redis_sentinel_master!r} of the Sentinels at "
                f"{','.join(settings.redis_sentinels)}" + (" over TLS" if settings.redis_sentinel_tls else ""))
    if settings.redis_url:
        return f"Redis at {mask(settings.redis_url)}"
    return f"Redis at {settings.redis_host}:{settings.redis_port}"


def _redis_line(exc: redis.RedisError, settings: Settings | None) -> str:
    where = redis_where(settings)
    if isinstance(exc, redis.AuthenticationError):
        return (f"{where} rejected the password ({short(str(exc))}): check REDIS_URL / REDIS_PASSWORD"
                + (" / REDIS_SENTINEL_PASSWORD" if settings is not None and settings.redis_sentinels else ""))
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        hint = (tls_hint(str(exc), settings) if settings is not None else "") or (
            "is the supervisor running with this STATE_DIR (`systemctl status botrunner`), or is REDIS_URL "
            "missing?" if settings is not None and settings.embedded_redis else "is it running and reachable?")
        return f"cannot reach {where}: {short(str(exc))}; {hint}"
    return f"{where} answered an error: {short(str(exc))}"


def tls_hint(message: str, settings: Settings) -> str:
    """What a TLS failure to Redis most likely means, naming the setting to check ('' if not TLS-related)."""
    if not settings.redis_tls:
        closed = "reset by peer" in message or "closed by server" in message
        return "is it running and reachable? (if that port speaks TLS: REDIS_URL=rediss://host:port)" if closed else ""
    if "mismatch, certificate is not valid" in message or "Hostname mismatch" in message:
        return ("the server's certificate does not name the address botrunner connects to: connect by a name it "
                "lists, or set REDIS_TLS_VERIFY=ca")
    if "CERTIFICATE_VERIFY_FAILED" in message:
        return ("the server's certificate is not signed by a CA botrunner trusts: check REDIS_TLS_CA_FILE "
                + (f"({settings.redis_tls_ca_file})" if settings.redis_tls_ca_file else "(unset: the system's CAs)"))
    # a server refusing the client's certificate ends the connection right after the handshake
    if any(word in message for word in ("EOF occurred", "CERTIFICATE_REQUIRED", "UNKNOWN_CA", "BAD_CERTIFICATE")):
        if not settings.redis_tls_cert_file:
            return ("the server requires a client certificate (tls-auth-clients): set REDIS_TLS_CERT_FILE and "
                    "REDIS_TLS_KEY_FILE")
        return (f"the server closed the connection after the handshake: does it trust the client certificate "
                f"REDIS_TLS_CERT_FILE ({settings.redis_tls_cert_file})? Its tls-ca-cert-file must hold the CA that "
                "signed it")
    if "WRONG_VERSION_NUMBER" in message or "Timeout connecting" in message:
        return "does the server speak TLS on that port (its tls-port)? is it running and reachable?"
    return ""


def _mongo_line(exc: BaseException, settings: Settings | None) -> str:
    import pymongo.errors
    where = f"MongoDB at {mask(settings.mongodb_url)}" if settings is not None else "MongoDB"
    if isinstance(exc, pymongo.errors.ServerSelectionTimeoutError):
        # "<host>: <reason> (configured timeouts ...), Timeout: 5s, Topology Description: <2 KB>"
        reason = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0]
        timeout = f" within {settings.mongo_timeout_ms} ms" if settings is not None else ""
        return f"cannot reach {where}{timeout}: {short(reason)}; check MONGODB_URL, the network and the server"
    if isinstance(exc, pymongo.errors.OperationFailure) and exc.code in (13, 18):
        return f"{where} refused the credentials or the permission ({short(str(exc))}): check MONGODB_URL"
    return f"{where}: {short(str(exc))}"


def one_line(exc: BaseException, settings: Settings | None = None) -> str:
    """What went wrong, where, and (when known) what to do; one line."""
    if isinstance(exc, OperatorError):
        return str(exc)
    if isinstance(exc, redis.RedisError):
        return _redis_line(exc, settings)
    if type(exc).__module__.startswith(("pymongo", "bson")):
        return _mongo_line(exc, settings)
    if isinstance(exc, sqlite3.Error):
        where = settings.sqlite_file if settings is not None else "the database"
        return f"SQLite {where}: {short(str(exc))}"
    if isinstance(exc, httpx.HTTPError):
        target = f"{exc.request.url.scheme}://{exc.request.url.netloc.decode()}" if _has_request(exc) else ""
        return f"Bot API server {target} unreachable: {type(exc).__name__} {short(hide_token(str(exc)))}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else f"{exc.strerror}"
    return f"{type(exc).__name__}: {short(str(exc))}"


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 (raises RuntimeError when the error carries no request)
    except RuntimeError:
        return False
    return True
