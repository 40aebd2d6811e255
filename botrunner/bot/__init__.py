"""The handler API, what a bot built on botrunner imports: router (routers, middlewares, hooks),
context (the update, services, queued calls, staged conversation), filters, callback_data (typed,
signed button data), states (the one conversation store) and testing (handler unit tests)."""
