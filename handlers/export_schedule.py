"""The scheduled user export (ENABLE_USER_DATA_EXPORT): every USER_DATA_EXPORT_INTERVAL_HOURS, one
worker of the cluster (handlers.cluster_jobs) sends every user as gzip CSV parts to ADMIN_CHAT_ID."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger

from handlers import export
from handlers.cluster_jobs import Job


def export_job(rt: Any) -> Job:
    """The job; its run returns the number of users exported."""
    s = rt.settings

    def run(renew: Callable[[], None]) -> int:
        count = export.send_export(rt, s.admin_chat_id, lambda part, parts, rows: rt.texts.get(
            "en", "export_scheduled", part=part, parts=parts, count=rows), progress=lambda rows: renew())
        logger.info("Scheduled export: {} users sent to {}", count, s.admin_chat_id)
        return count
    return Job("export", s.user_data_export_interval_hours * 3600, run)
