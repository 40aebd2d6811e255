"""The REDIS_TLS_* settings checked once, at start-up, before any connection is tried.

Invariant: a Settings object that passed `check_tls` has TLS files that exist, parse and match (a
certificate with its key), and no TLS setting that no connection would use. TLS itself is a
rediss:// REDIS_URL (one server or a cluster's first node) or REDIS_SENTINEL_TLS with
REDIS_SENTINELS; what redis-py is given for it is built in botrunner/redis_clients.py. Messages
name the setting and the file's path; never a key's content (ssl's errors carry none).
"""
from __future__ import annotations

import ssl
from typing import Protocol

from botrunner.errors import ConfigError


class TlsSettings(Protocol):
    """The settings `check_tls` reads (botrunner.config.settings.Settings has them)."""

    @property
    def redis_sentinels(self) -> tuple: ...
    @property
    def redis_sentinel_tls(self) -> bool: ...
    @property
    def redis_tls_ca_file(self) -> str: ...
    @property
    def redis_tls_cert_file(self) -> str: ...
    @property
    def redis_tls_key_file(self) -> str: ...
    @property
    def redis_tls_verify(self) -> str: ...
    @property
    def redis_tls(self) -> bool: ...


FILES = (("REDIS_TLS_CA_FILE", "redis_tls_ca_file"), ("REDIS_TLS_CERT_FILE", "redis_tls_cert_file"),
         ("REDIS_TLS_KEY_FILE", "redis_tls_key_file"))
NO_TLS = ("expected REDIS_URL=rediss://host:port (TLS to one Redis or a cluster node; REDIS_HOST has no TLS "
          "form) or REDIS_SENTINEL_TLS=true with REDIS_SENTINELS")


class _EncryptedKey(Exception):
    """Raised by the password callback: botrunner never prompts for a key's passphrase."""


def check_tls(s: TlsSettings) -> None:
    """Raise ConfigError for a TLS setting that is inconsistent, unused, or names a bad file."""
    if s.redis_sentinel_tls and not s.redis_sentinels:
        raise ConfigError("REDIS_SENTINEL_TLS=true is invalid: expected REDIS_SENTINELS to be set as well "
                          "(with REDIS_URL, TLS is its rediss:// scheme)")
    given = [name for name, attr in FILES if getattr(s, attr)]
    given += ["REDIS_TLS_VERIFY"] if s.redis_tls_verify != "full" else []
    if given and not s.redis_tls:
        verb = "is" if len(given) == 1 else "are"
        raise ConfigError(f"{', '.join(given)} {verb} set, but no Redis connection uses TLS: {NO_TLS}")
    if bool(s.redis_tls_cert_file) != bool(s.redis_tls_key_file):
        have, missing = (("REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE") if s.redis_tls_cert_file
                         else ("REDIS_TLS_KEY_FILE", "REDIS_TLS_CERT_FILE"))
        raise ConfigError(f"{have} is set without {missing}: expected both (a client certificate and its key, "
                          "for mutual TLS) or neither")
    for name, attr in FILES:
        if getattr(s, attr):
            _readable(name, getattr(s, attr))
    _parses(s)


def _readable(name: str, path: str) -> None:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigError(f"{name}={path!r} is invalid: expected a readable PEM file ({exc.strerror})") from None


def _parses(s: TlsSettings) -> None:
    """Load the files the way a TLS connection will: CA certificates, then the certificate with its key."""
    context = ssl.create_default_context()
    if s.redis_tls_ca_file:
        try:
            context.load_verify_locations(cafile=s.redis_tls_ca_file)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"REDIS_TLS_CA_FILE={s.redis_tls_ca_file!r} is invalid: expected PEM CA "
                              f"certificates ({_reason(exc)})") from None
    if s.redis_tls_cert_file:
        try:
            context.load_cert_chain(s.redis_tls_cert_file, s.redis_tls_key_file, password=_refuse_password)
        except _EncryptedKey:
            raise ConfigError(f"REDIS_TLS_KEY_FILE={s.redis_tls_key_file!r} is invalid: expected an unencrypted "
                              "key (this one asks for a passphrase; `openssl pkey -in KEY -out PLAIN` writes "
                              "it unencrypted)") from None
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"REDIS_TLS_CERT_FILE={s.redis_tls_cert_file!r} with REDIS_TLS_KEY_FILE="
                              f"{s.redis_tls_key_file!r} is invalid: expected a PEM certificate and its own "
                              f"private key ({_reason(exc)})") from None


def _refuse_password() -> str:
    raise _EncryptedKey


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason).replace("_", " ").lower() if reason else str(exc)
