"""sd_notify without dependencies: READY=1, STATUS=..., STOPPING=1, WATCHDOG=1 to $NOTIFY_SOCKET.

Does nothing outside systemd (no NOTIFY_SOCKET). An abstract socket is written '@name'.
"""
from __future__ import annotations

import os
import socket

from loguru import logger


class SystemdNotifier:
    """Sends notifications to systemd, if the process runs under it with Type=notify."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1_000_000 if usec.isdigit() else 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        """Send one datagram of KEY=value lines; False (and logged once per call) when it fails."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(lines).encode())
            return True
        except OSError as exc:
            logger.warning("sd_notify to {!r} failed: {!r}", self.address, exc)
            return False

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")
