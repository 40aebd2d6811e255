"""The MongoDB backend (production): one module per repository behind storage.base."""
