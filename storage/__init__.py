"""Repositories over MongoDB (production) and SQLite (embedded default), caches and sessions."""
