"""The `migrate from-node` command's wiring: open the Node bot's MongoDB read-only and botrunner's store.

Invariant: the source is only read, and never the same database as the target (both bots name their
user collection `users`; writing botrunner documents into the Node bot's database would mix them).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botrunner.config.settings import Settings, mask

if TYPE_CHECKING:
    from pymongo import MongoClient

    from storage.base import Store

NODE_DEFAULT_DATABASE = "telegram_airdrop_bot"


def connect_source(url: str) -> MongoClient[Any]:
    """A PyMongo client for the Node bot's server (secondaries are fine: it is only read)."""
    import pymongo
    return pymongo.MongoClient(url, readPreference="secondaryPreferred", serverSelectionTimeoutMS=10000,
                               appname="botrunner-migrate")


def source_database(url: str, database: str | None) -> str:
    """The Node database: --database, else the URL's, else the Node bot's default."""
    if not url.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError(f"{mask(url)!r} is not a MongoDB URL (mongodb://host/database)")
    return database or urlsplit(url).path.lstrip("/") or NODE_DEFAULT_DATABASE


def _same_database(settings: Settings, url: str, name: str) -> bool:
    if not settings.mongodb_url or settings.mongodb_database != name:
        return False
    hosts = [urlsplit(u).netloc.rsplit("@", 1)[-1].lower() for u in (settings.mongodb_url, url)]
    return hosts[0] == hosts[1]


def run_migration(settings: Settings, url: str, database: str | None, dry_run: bool, batch_size: int,
                  progress: Callable[[str], None] = print, source_client: MongoClient[Any] | None = None,
                  store: Store | None = None) -> list[str]:
    """Migrate and return the report's lines; ValueError for a bad or self-referencing URL."""
    from storage.factory import open_store
    from storage.node_import.migrate import NodeMigration
    name = source_database(url, database)
    if store is None and _same_database(settings, url, name):
        raise ValueError(f"the Node bot's database {name!r} is botrunner's own MONGODB_URL database; "
                         "import into another one (set MONGODB_DB, or leave it unset for botrunner_<bot id>)")
    client = source_client or connect_source(url)
    target = store or open_store(settings)
    try:
        target.init_schema()
        progress(f"Reading {mask(url)} database {name!r} into {target.backend}"
                 + (" (dry run)" if dry_run else ""))
        return NodeMigration(client[name], target, dry_run, batch_size).run().lines()
    finally:
        if store is None:
            target.close()
        if source_client is None:
            client.close()
