"""Logging: text to stderr, JSON lines for log shippers, files under LOG_DIR, stdlib routed in."""
from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging, sys
from botrunner.logs import setup_logging
setup_logging(level=sys.argv[1], fmt=sys.argv[2], log_dir=sys.argv[3], proc="worker-7")
from loguru import logger
logger.info("hello {}", "operator")
logger.debug("hidden at info")
logging.getLogger("aiohttp.access").warning("from the standard library")
"""


def run(level: str, fmt: str, log_dir: str = "") -> str:
    done = subprocess.run([sys.executable, "-c", SCRIPT, level, fmt, log_dir], capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stderr


def test_text_format_is_human_readable():
    err = run("info", "text")
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert "INFO" in lines[0] and "worker-7" in lines[0] and lines[0].endswith("hello operator")
    assert "aiohttp.access: from the standard library" in lines[1]


def test_json_format_is_one_object_per_line():
    records = [json.loads(line) for line in run("debug", "json").strip().splitlines()]
    assert [r["record"]["message"] for r in records] == [
        "hello operator", "hidden at info", "aiohttp.access: from the standard library"]
    assert records[0]["record"]["level"]["name"] == "INFO"
    assert records[0]["record"]["extra"]["proc"] == "worker-7"


def test_log_dir_gets_a_file(tmp_path):
    run("info", "text", str(tmp_path / "logs"))
    written = (tmp_path / "logs" / "botrunner.log").read_text()
    assert "hello operator" in written and "hidden at info" not in written
