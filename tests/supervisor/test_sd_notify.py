"""sd_notify: datagrams to NOTIFY_SOCKET, silence outside systemd."""
from __future__ import annotations

import socket

from botrunner.supervisor.sd_notify import SystemdNotifier

# --- process plumbing ---

def test_sd_notify_sends_datagrams(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "20000000")
        notifier = SystemdNotifier()
        notifier.ready("2 workers")
        notifier.watchdog()
        assert server.recv(100) == b"READY=1\nSTATUS=2 workers"
        assert server.recv(100) == b"WATCHDOG=1"
        assert notifier.watchdog_s == 20.0


def test_sd_notify_is_silent_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not SystemdNotifier().notify("READY=1")
