"""Fixtures for the metrics tests: the real-process ones come from tests/runner, plus a scrape helper."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.runner.conftest import cluster  # noqa: F401  (fixture)


def fetch_text(url: str, tries: int = 5) -> str:
    """GET `url`; a connection reset is retried: with SO_REUSEPORT a connection queued on a worker that
    was just killed is reset by the kernel, and Prometheus too would simply scrape again."""
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.read().decode()
        except (ConnectionError, urllib.error.URLError):
            if attempt == tries - 1:
                raise
            time.sleep(0.2)
    raise AssertionError("not reached")


def scrape(url: str) -> tuple[str, dict[tuple[str, tuple], float]]:
    """(exposition text, {(sample name, sorted labels): value}) of one GET."""
    text = fetch_text(url)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def value(samples: dict, name: str, **labels: str) -> float:
    """One sample's value (0 when absent); labels not given must be absent from the sample."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum over every sample of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool (Debian's prometheus package; `make test-deps` installs it)."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: apt-get install -y prometheus (make test-deps does it)")
        pytest.skip("promtool is missing here: apt-get install -y prometheus")
    return path


def run_promtool(promtool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], input=stdin, capture_output=True, text=True, timeout=60)
