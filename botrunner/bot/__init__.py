"""The handler API: router, context, conversation states. What a bot built on botrunner imports."""
