"""The SQLite backend (embedded default): one module per repository behind storage.base."""
