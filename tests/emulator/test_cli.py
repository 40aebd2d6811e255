"""`botrunner emulator` as a real process: logs its URL, serves, honours flags, stops cleanly on SIGTERM."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import free_port


@pytest.mark.slow
def test_cli_serves_and_stops_on_sigterm(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "botrunner", "emulator", "--port", str(port), "--flood",
                                "--flood-chat-burst", "7", "--callback-ttl", "3"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/__control/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the emulator did not start listening"
            time.sleep(0.1)
        flood = httpx.get(f"http://127.0.0.1:{port}/__control/flood").json()["result"]
        assert flood["enabled"] is True and flood["chat_burst"] == 7
        assert httpx.get(f"http://127.0.0.1:{port}/bot1:x/getMe").json()["result"]["id"] == 1
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert f"listening on http://127.0.0.1:{port}" in output
