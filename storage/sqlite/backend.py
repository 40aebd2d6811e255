"""The SQLite store (embedded default): repositories over one WAL file shared by the worker processes.

Also holds the small repositories (tickets, fingerprints, settings) that need no money logic.
"""
from __future__ import annotations

import json
from typing import Any

from storage.base import ClaimRepository, FingerprintRepository, SettingsRepository, Store, TicketRepository
from storage.records import Fingerprint, Ticket, from_mapping, new_id, now
from storage.sqlite import imports as sqlite_imports
from storage.sqlite import schema as sqlite_schema
from storage.sqlite.admin import SQLiteAdminRoles, SQLiteAudit
from storage.sqlite.admin_views import SQLiteAdminViews
from storage.sqlite.broadcasts import SQLiteBroadcasts
from storage.sqlite.connection import SQLiteDatabase
from storage.sqlite.points import SQLitePoints
from storage.sqlite.tasks import SQLiteSubmissions, SQLiteTasks
from storage.sqlite.users import SQLiteReferrals, SQLiteUsers


class SQLiteStore(Store):
    """Every repository over the SQLite file at `path`; connections open lazily per thread."""

    backend = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.db = SQLiteDatabase(path, self.round_trips)
        self.users = SQLiteUsers(self)
        self.referrals = SQLiteReferrals(self)
        self.tasks = SQLiteTasks(self)
        self.submissions = SQLiteSubmissions(self)
        self.points = SQLitePoints(self)
        self.tickets = SQLiteTickets(self)
        self.fingerprints = SQLiteFingerprints(self)
        self.settings = SQLiteSettings(self)
        self.claims = SQLiteClaims(self)
        self.broadcasts = SQLiteBroadcasts(self)
        self.admin_roles = SQLiteAdminRoles(self)
        self.admin_views = SQLiteAdminViews(self)
        self.audit = SQLiteAudit(self)

    def init_schema(self) -> list[str]:
        return sqlite_schema.init_schema(self.db)

    def stats(self) -> dict[str, Any]:
        return sqlite_schema.stats(self.db)

    def repair(self) -> int:
        return 0  # every money movement is one transaction: nothing can be left half done

    def ping(self) -> None:
        self.db.scalar("SELECT 1")

    def import_records(self, table: str, records: list[Any]) -> tuple[int, list[tuple[Any, str]]]:
        inserted, rejected = sqlite_imports.import_records(self.db, table, records)
        if table == "users":
            self.users_changed(r.id for r in records)
        return inserted, rejected

    def close(self) -> None:
        self.db.close()


class SQLiteTickets(TicketRepository):
    """Support tickets; the once-per-interval rule is checked inside the inserting transaction."""

    def __init__(self, store: SQLiteStore) -> None:
        self.db = store.db

    def open(self, user_id: int, category: str, text: str, min_interval_s: int = 86400,
             at: float | None = None) -> Ticket | None:
        ticket = Ticket(new_id(), user_id, category, text, "open", at or now())
        with self.db.transaction() as tx:
            if tx.one("SELECT 1 AS x FROM tickets WHERE user_id = ? AND category = ? AND created_at > ?",
                      (user_id, category, ticket.created_at - min_interval_s)):
                return None
            tx.execute("INSERT INTO tickets (id, user_id, category, text, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (ticket.id, user_id, category, text, "open", ticket.created_at))
        return ticket

    def get(self, ticket_id: str) -> Ticket | None:
        row = self.db.query_one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return from_mapping(Ticket, row) if row else None

    def list_open(self, limit: int = 20, offset: int = 0) -> list[Ticket]:
        rows = self.db.query("SELECT * FROM tickets WHERE status = 'open' ORDER BY created_at, id LIMIT ? OFFSET ?",
                             (limit, offset))
        return [from_mapping(Ticket, r) for r in rows]

    def count_open(self) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM tickets WHERE status = 'open'")

    def list_for_user(self, user_id: int, limit: int = 10) -> list[Ticket]:
        rows = self.db.query("SELECT * FROM tickets WHERE user_id = ? ORDER BY created_at DESC, id LIMIT ?",
                             (user_id, limit))
        return [from_mapping(Ticket, r) for r in rows]

    def reply(self, ticket_id: str, admin_id: int, text: str) -> bool:
        return self.db.execute("UPDATE tickets SET status = 'answered', reply = ?, replied_by = ?, replied_at = ? "
                               "WHERE id = ? AND status != 'closed'", (text, admin_id, now(), ticket_id)) == 1

    def close(self, ticket_id: str) -> bool:
        return self.db.execute("UPDATE tickets SET status = 'closed' WHERE id = ? AND status != 'closed'",
                               (ticket_id,)) == 1


class SQLiteFingerprints(FingerprintRepository):
    """Device fingerprints; expiry is a column every read filters on (SQLite has no TTL monitor)."""

    def __init__(self, store: SQLiteStore) -> None:
        self.db = store.db

    def record(self, user_id: int, fingerprint_hash: str, ip_hash: str = "", ttl_s: int = 90 * 86400,
               at: float | None = None) -> None:
        at = at or now()
        self.db.execute("INSERT INTO device_fingerprints (fingerprint_hash, user_id, ip_hash, created_at, updated_at, "
                        "expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint_hash, user_id) DO UPDATE SET "
                        "ip_hash = excluded.ip_hash, updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                        (fingerprint_hash, user_id, ip_hash, at, at, at + ttl_s))

    def users_with(self, fingerprint_hash: str) -> list[int]:
        rows = self.db.query("SELECT user_id FROM device_fingerprints WHERE fingerprint_hash = ? AND expires_at > ? "
                             "ORDER BY user_id", (fingerprint_hash, now()))
        return [r["user_id"] for r in rows]

    def for_user(self, user_id: int) -> list[Fingerprint]:
        rows = self.db.query("SELECT * FROM device_fingerprints WHERE user_id = ? AND expires_at > ? "
                             "ORDER BY updated_at DESC", (user_id, now()))
        return [from_mapping(Fingerprint, r) for r in rows]

    def holders(self, fingerprint_hash: str) -> list[Fingerprint]:
        rows = self.db.query("SELECT * FROM device_fingerprints WHERE fingerprint_hash = ? AND expires_at > ? "
                             "ORDER BY created_at, user_id", (fingerprint_hash, now()))
        return [from_mapping(Fingerprint, r) for r in rows]

    def forget(self, user_id: int, keep: str | None = None) -> int:
        return self.db.execute("DELETE FROM device_fingerprints WHERE user_id = ? AND fingerprint_hash != ?",
                               (user_id, keep or ""))

    def purge_expired(self, at: float | None = None) -> int:
        return self.db.execute("DELETE FROM device_fingerprints WHERE expires_at <= ?", (at or now(),))


class SQLiteClaims(ClaimRepository):
    """Claim nonces: the next one is chosen and stored in one write transaction (BEGIN IMMEDIATE
    serialises writers), and (user_id, nonce) is unique."""

    def __init__(self, store: SQLiteStore) -> None:
        self.db = store.db

    def reserve(self, withdrawal_id: str, user_id: int) -> int:
        with self.db.transaction() as tx:
            row = tx.one("SELECT nonce FROM claims WHERE withdrawal_id = ?", (withdrawal_id,))
            if row:
                return row["nonce"]
            top = tx.one("SELECT COALESCE(MAX(nonce), 0) + 1 AS n FROM claims WHERE user_id = ?", (user_id,))
            nonce = top["n"] if top else 1          # an aggregate: there is always a row
            tx.execute("INSERT INTO claims (withdrawal_id, user_id, nonce, created_at) VALUES (?, ?, ?, ?)",
                       (withdrawal_id, user_id, nonce, now()))
            return nonce

    def last_nonce(self, user_id: int) -> int:
        return self.db.scalar("SELECT COALESCE(MAX(nonce), 0) FROM claims WHERE user_id = ?", (user_id,))

    def import_last_nonce(self, user_id: int, nonce: int) -> bool:
        return self.db.execute("INSERT INTO claims (withdrawal_id, user_id, nonce, created_at) SELECT ?, ?, ?, ? "
                               "WHERE NOT EXISTS (SELECT 1 FROM claims WHERE user_id = ?)",
                               (f"imported:{user_id}", user_id, nonce, now(), user_id)) == 1


class SQLiteSettings(SettingsRepository):
    """Runtime settings as JSON text."""

    def __init__(self, store: SQLiteStore) -> None:
        self.db = store.db

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.db.scalar("SELECT value FROM settings WHERE key = ?", (key,))
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value: Any) -> None:
        self.db.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                        "value = excluded.value", (key, json.dumps(value)))

    def delete(self, key: str) -> None:
        self.db.execute("DELETE FROM settings WHERE key = ?", (key,))

    def all(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.db.query("SELECT key, value FROM settings ORDER BY key")}
