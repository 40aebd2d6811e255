"""Real processes for webhook mode: `botrunner start` supervisors with USE_WEBHOOK on their own ports."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.runner.conftest import ROOT, TOKEN, Cluster

SECRET = "e2e-webhook-secret_0123456789"


def webhook_info(api_url: str) -> dict:
    return httpx.get(f"{api_url}/bot{TOKEN}/getWebhookInfo", timeout=10).json()["result"]


class WebhookCluster(Cluster):
    """Supervisors in webhook mode: each listens on its own port (a "host"), all share one Redis."""

    def __init__(self, tmp_path: Path, redis_url: str, api_url: str) -> None:
        super().__init__(tmp_path, redis_url, api_url)
        self.ports: dict[int, int] = {}

    def start_webhook(self, webhook_url: str | None = None, workers: int = 2, port: int | None = None,
                      **extra: str) -> subprocess.Popen:
        """One supervisor; returns once its workers hold lanes and its HTTP port answers."""
        port = port or free_port()
        # SEND_LIMITS off as the local server has none: a drain is then never held up by a chat's send
        # budget, so a stopping host leaves no half-handled update behind (handled twice on its next owner)
        env = self.env(USE_WEBHOOK="true", SEND_LIMITS="false", TELEGRAM_WEBHOOK_SECRET=SECRET, WEB_LISTEN=f"127.0.0.1:{port}",
                       WEBHOOK_URL=webhook_url or f"http://127.0.0.1:{port}/webhook", **extra)
        log = open(self.tmp_path / f"supervisor-{len(self.processes)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "botrunner", "start", "--workers", str(workers),
                                 "--api-url", self.api_url], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log.name
        self.processes.append(proc)
        self.ports[proc.pid] = port
        deadline = time.monotonic() + 120     # generous: a loaded 2-core machine can be slow to boot two hosts
        while not (self.balanced(proc.pid, workers) and self.answers(port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {proc.returncode}" if proc.poll() is not None else "not ready after 120 s"
                pytest.fail(f"webhook supervisor {proc.pid} on port {port} {state}; its log ends:\n"
                            + "\n".join(self.log(proc).splitlines()[-15:]))
            time.sleep(0.2)
        return proc

    @staticmethod
    def answers(port: int) -> bool:
        try:
            return httpx.post(f"http://127.0.0.1:{port}/webhook", content=b"{}", timeout=2).status_code == 401
        except httpx.HTTPError:
            return False
