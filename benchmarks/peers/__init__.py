"""The same minimal /start bot (reply + register the user in SQLite) on botrunner, python-telegram-bot and aiogram."""
