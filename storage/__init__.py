"""Repositories over MongoDB (production) and SQLite (embedded default), caches and sessions.

In a worker, after fork: `storage.factory.open_worker_storage(settings).start()` (or
`storage.factory.install(services, settings)` from a router startup hook). See docs/data-model.md.
"""
