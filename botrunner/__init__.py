"""botrunner: run a big Telegram bot in Python (supervisor, workers, update pipeline, sender, emulator)."""

__version__ = "0.1.0"
