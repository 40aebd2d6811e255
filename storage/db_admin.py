"""What `botrunner db init` and `botrunner db stats` print (the CLI only calls these)."""
from __future__ import annotations

from collections.abc import Iterator

from botrunner.config.settings import Settings, mask
from storage.factory import open_store


def target(settings: Settings) -> str:
    return f"MongoDB {mask(settings.mongodb_url)}" if settings.mongodb_url else f"SQLite {settings.sqlite_file}"


def init_lines(settings: Settings) -> Iterator[str]:
    """Create what is missing; one line per created table/collection/index, then a summary."""
    store = open_store(settings)
    try:
        created = store.init_schema()
        repaired = store.repair()
    finally:
        store.close()
    yield f"{target(settings)}:"
    yield from (f"  created {item}" for item in created)
    yield (f"  {len(created)} created" if created else "  nothing to create: every table/collection and index exists")
    if repaired:
        yield f"  finished {repaired} interrupted money movement(s)"


def stats_lines(settings: Settings) -> Iterator[str]:
    """Row counts per collection, then each index with its usage (ops since server start on MongoDB)."""
    store = open_store(settings)
    try:
        stats = store.stats()
    finally:
        store.close()
    yield f"{target(settings)}:"
    width = max(map(len, stats["counts"]))
    yield from (f"  {name:<{width}}  {count:>10} rows" for name, count in stats["counts"].items())
    yield "indexes (collection.name: keys, ops):"
    for index in stats["indexes"]:
        ops = "n/a" if index["ops"] is None else index["ops"]
        yield f"  {index['collection']}.{index['name']}: {index['keys']}, {ops}"
    if store.backend == "sqlite":
        yield "  (SQLite keeps no per-index usage counters; use EXPLAIN QUERY PLAN to see which index a query uses)"
