"""Fixtures: a real master + replica + 3 Sentinels (tests/redis_ha/servers.py)."""
from __future__ import annotations

import pytest

from botrunner.config.settings import load_settings
from tests.redis_ha.servers import SentinelSet


@pytest.fixture(scope="module")
def sentinels():
    """One replicated set for a module's read-and-write tests (no faults)."""
    with SentinelSet() as ha:
        yield ha


@pytest.fixture
def fresh_sentinels():
    """A replicated set of the test's own, for tests that kill or pause servers."""
    with SentinelSet() as ha:
        yield ha


def sentinel_settings(ha: SentinelSet, tmp_path, **extra: str):
    return load_settings(environ={"STATE_DIR": str(tmp_path / "state"), **ha.env(), **extra}, env_file=None)


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory):
    """A throwaway CA with server, client and mismatched certificates (tests/redis_ha/tls_certs.py)."""
    from tests.redis_ha.tls_certs import make_certs
    return make_certs(tmp_path_factory.mktemp("br-tls"))
