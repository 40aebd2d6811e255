"""SQLite tables and indexes (the same collections and queried fields as the MongoDB backend).

`init_schema` is idempotent (IF NOT EXISTS) and reports the tables, columns and indexes it actually
created: a column added to a table here is added to a database file made before it (ALTER TABLE ADD
COLUMN, so a new column needs a DEFAULT or must be nullable).
Indexes are named and created explicitly (no inline UNIQUE) so `db stats` shows meaningful names.
"""
from __future__ import annotations

from typing import Any

from storage.sqlite.connection import SQLiteDatabase

TABLES = {
    "users": """
        id INTEGER PRIMARY KEY, username TEXT NOT NULL DEFAULT '', username_lc TEXT NOT NULL DEFAULT '',
        first_name TEXT NOT NULL DEFAULT '', last_name TEXT NOT NULL DEFAULT '',
        language_code TEXT NOT NULL DEFAULT '', is_premium INTEGER NOT NULL DEFAULT 0,
        referral_code TEXT, referral_code_locked INTEGER NOT NULL DEFAULT 0, referred_by INTEGER,
        referral_count INTEGER NOT NULL DEFAULT 0,
        points INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0), total_earned INTEGER NOT NULL DEFAULT 0,
        captcha_passed INTEGER NOT NULL DEFAULT 0, captcha_state TEXT NOT NULL DEFAULT '',
        wallet_address TEXT, previous_wallet TEXT,
        banned INTEGER NOT NULL DEFAULT 0, ban_reason TEXT NOT NULL DEFAULT '', banned_until REAL,
        blocked_bot INTEGER NOT NULL DEFAULT 0, registered_at REAL NOT NULL, last_active_at REAL NOT NULL""",
    "referrals": """
        referred_id INTEGER PRIMARY KEY, referrer_id INTEGER NOT NULL, created_at REAL NOT NULL,
        bonus_credited INTEGER NOT NULL DEFAULT 0""",
    "tasks": """
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, reward INTEGER NOT NULL,
        target TEXT NOT NULL DEFAULT '', verification TEXT NOT NULL DEFAULT '',
        proof_pattern TEXT NOT NULL DEFAULT '', auto_approve INTEGER NOT NULL DEFAULT 0,
        cooldown_s INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 1,
        "order" INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL""",
    "task_submissions": """
        id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, task_id TEXT NOT NULL, status TEXT NOT NULL,
        proof TEXT NOT NULL DEFAULT '', reviewer_id INTEGER, created_at REAL NOT NULL, reviewed_at REAL,
        completions INTEGER NOT NULL DEFAULT 0, paid INTEGER NOT NULL DEFAULT 0""",
    "point_transactions": """
        id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, amount INTEGER NOT NULL, kind TEXT NOT NULL,
        reference TEXT NOT NULL DEFAULT '', balance_after INTEGER NOT NULL, created_at REAL NOT NULL""",
    "transfers": """
        id TEXT PRIMARY KEY, sender_id INTEGER NOT NULL, receiver_id INTEGER NOT NULL,
        amount INTEGER NOT NULL, fee INTEGER NOT NULL, net INTEGER NOT NULL, created_at REAL NOT NULL""",
    "withdrawals": """
        id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, amount INTEGER NOT NULL, address TEXT NOT NULL,
        status TEXT NOT NULL, created_at REAL NOT NULL, tx_hash TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '', settled_at REAL, refunded INTEGER NOT NULL DEFAULT 0""",
    "device_fingerprints": """
        fingerprint_hash TEXT NOT NULL, user_id INTEGER NOT NULL, ip_hash TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (fingerprint_hash, user_id)""",
    "tickets": """
        id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, category TEXT NOT NULL, text TEXT NOT NULL,
        status TEXT NOT NULL, created_at REAL NOT NULL, reply TEXT NOT NULL DEFAULT '',
        replied_by INTEGER, replied_at REAL""",
    "settings": "key TEXT PRIMARY KEY, value TEXT NOT NULL",
    "claims": "withdrawal_id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, nonce INTEGER NOT NULL, created_at REAL NOT NULL",
    "broadcasts": """
        id TEXT PRIMARY KEY, message TEXT NOT NULL, segment TEXT NOT NULL, created_by INTEGER NOT NULL,
        status TEXT NOT NULL, total INTEGER NOT NULL DEFAULT 0, sent INTEGER NOT NULL DEFAULT 0,
        blocked INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
        retrying INTEGER NOT NULL DEFAULT 0, cursor INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
        started_at REAL, finished_at REAL, updated_at REAL NOT NULL""",
    "broadcast_recipients": """
        broadcast_id TEXT NOT NULL, user_id INTEGER NOT NULL, status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '', at REAL NOT NULL, tries INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (broadcast_id, user_id)""",
    "admin_roles": "user_id INTEGER PRIMARY KEY, role TEXT NOT NULL, granted_by INTEGER NOT NULL, granted_at REAL NOT NULL",
    "audit": """
        id TEXT PRIMARY KEY, at REAL NOT NULL, admin_id INTEGER NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL,
        target TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL""",
}

# name: (table, columns, unique) -- each matches a query the repositories make
INDEXES = {
    "users_username_lc": ("users", "username_lc", False),
    "users_referral_code": ("users", "referral_code", True),         # NULLs do not collide in SQLite
    "users_wallet_address": ("users", "wallet_address", True),
    "users_referred_by_registered": ("users", "referred_by, registered_at", False),
    "users_referred_by_active": ("users", "referred_by, last_active_at", False),
    "users_total_earned": ("users", "total_earned DESC, id", False),
    "users_referral_count": ("users", "referral_count DESC, id", False),
    "users_points": ("users", "points DESC, id", False),
    "users_last_active": ("users", "last_active_at", False),
    "users_registered": ("users", "registered_at", False),
    "referrals_referrer_created": ("referrals", "referrer_id, created_at DESC", False),
    "tasks_active_order": ("tasks", "active, \"order\"", False),
    "submissions_user_task": ("task_submissions", "user_id, task_id", True),
    "submissions_status_created": ("task_submissions", "status, created_at", False),
    "ledger_user_created": ("point_transactions", "user_id, created_at DESC", False),
    "transfers_sender_created": ("transfers", "sender_id, created_at DESC", False),
    "transfers_receiver_created": ("transfers", "receiver_id, created_at DESC", False),
    "withdrawals_user_created": ("withdrawals", "user_id, created_at DESC", False),
    "withdrawals_status_created": ("withdrawals", "status, created_at", False),
    "fingerprints_user": ("device_fingerprints", "user_id", False),
    "fingerprints_expires": ("device_fingerprints", "expires_at", False),
    "tickets_user_category_created": ("tickets", "user_id, category, created_at", False),
    "tickets_status_created": ("tickets", "status, created_at", False),
    "claims_user_nonce": ("claims", "user_id, nonce", True),
    "broadcasts_status_created": ("broadcasts", "status, created_at DESC", False),
    "broadcasts_created": ("broadcasts", "created_at DESC", False),
    "broadcast_recipients_status": ("broadcast_recipients", "broadcast_id, status, user_id", False),
    "audit_admin": ("audit", "admin_id, id DESC", False),
    "audit_action": ("audit", "action, id DESC", False),
}


def init_schema(db: SQLiteDatabase) -> list[str]:
    """Create missing tables and indexes in one transaction; returns e.g. ['table users', 'index ...'].
    Processes starting together take turns (`init_lock`): the first creates, the others find it all."""
    db.connection()                  # opened first: opening takes init_lock itself (the WAL switch)
    with db.init_lock():
        return _create_missing(db)


def _create_missing(db: SQLiteDatabase) -> list[str]:
    created: list[str] = []
    with db.transaction() as tx:
        existing = {(r["type"], r["name"]) for r in tx.execute("SELECT type, name FROM sqlite_master").fetchall()}
        for table, columns in TABLES.items():
            if ("table", table) not in existing:
                tx.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
                created.append(f"table {table}")
            else:
                created += _add_missing_columns(tx, table, columns)
        for name, (table, columns, unique) in INDEXES.items():
            if ("index", name) not in existing:
                tx.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {name} ON {table} ({columns})")
                created.append(f"index {table}.{name}")
    return created


def column_definitions(columns: str) -> dict[str, str]:
    """{column name: its definition} of a TABLES entry (table constraints such as PRIMARY KEY (a, b) left out)."""
    parts, depth, current = [], 0, ""
    for char in columns:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    found = {}
    for part in (p.strip() for p in parts):
        if part and part.split()[0].upper() not in ("PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"):
            found[part.split()[0].strip('"')] = part
    return found


def _add_missing_columns(tx: Any, table: str, columns: str) -> list[str]:
    have = {r["name"] for r in tx.execute(f"PRAGMA table_info({table})").fetchall()}
    added = []
    for name, definition in column_definitions(columns).items():
        if name not in have:
            tx.execute(f"ALTER TABLE {table} ADD COLUMN {definition}")
            added.append(f"column {table}.{name}")
    return added


def stats(db: SQLiteDatabase) -> dict[str, Any]:
    """Row counts per table and the index list (SQLite keeps no per-index usage counters)."""
    counts = {table: db.scalar(f"SELECT COUNT(*) FROM {table}") for table in TABLES}
    indexes = [{"collection": r["tbl_name"], "name": r["name"], "keys": _index_columns(r["sql"]), "ops": None}
               for r in db.query("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' "
                                 "AND sql IS NOT NULL ORDER BY tbl_name, name")]
    return {"counts": counts, "indexes": indexes}


def _index_columns(sql: str) -> str:
    return sql[sql.index("(") + 1:sql.rindex(")")]
