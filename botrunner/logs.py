"""Logging set up in one place: loguru sinks for stderr (text or JSON lines) and rotating files.

Standard-library loggers (aiohttp, redis, pymongo, telegram) are routed into loguru so every line
leaves the process through the same sinks and the same format.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from botrunner.config.settings import Settings

TEXT_FORMAT = ("<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
               "<cyan>{extra[proc]}</cyan> {message}")


class _InterceptHandler(logging.Handler):
    """Forward standard-library log records to loguru (the recipe from loguru's README)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info, depth=6).log(level, "{}: {}", record.name, record.getMessage())


def setup_logging(level: str = "info", fmt: str = "text", log_dir: str = "", rotation: str = "50 MB",
                  retention: int = 10, proc: str = "main", file_name: str = "botrunner.log") -> None:
    """(Re)configure every sink. Called once per process (again in a worker after fork, with its name)."""
    logger.remove()
    logger.configure(extra={"proc": proc})
    level = level.upper()
    json_lines = fmt == "json"
    logger.add(sys.stderr, level=level, serialize=json_lines, backtrace=False, diagnose=False,
               format="{message}" if json_lines else TEXT_FORMAT, colorize=None if not json_lines else False)
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        logger.add(Path(log_dir) / file_name, level=level, serialize=json_lines, rotation=rotation,
                   retention=retention, enqueue=True, backtrace=False, diagnose=False,
                   format="{message}" if json_lines else TEXT_FORMAT, colorize=False)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)


def setup_from_settings(settings: Settings, proc: str = "main") -> None:
    """Configure logging from a Settings object."""
    setup_logging(settings.log_level, settings.log_format, settings.log_dir, settings.log_rotation,
                  settings.log_retention, proc=proc)
