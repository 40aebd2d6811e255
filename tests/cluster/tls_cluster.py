"""A Redis Cluster on TLS only, for tests/cluster/test_cluster_tls.py: tests/redis_cluster.py's
3 masters + 3 replicas with `port 0`, each node's port as its tls-port, the cluster bus and the
replication over TLS too (tls-cluster yes, tls-replication yes), client certificates required, the
certificates from tests/redis_ha/tls_certs.py. `redis-cli --cluster create` joins them over TLS.
TlsClusterRun is tests/cluster/conftest.py's ClusterRun with REDIS_URL=rediss:// and REDIS_TLS_*.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

import redis

from tests.cluster.conftest import ClusterRun
from tests.redis_cluster import ClusterNodes, _wait
from tests.redis_ha.tls_certs import Certs
from tests.runner.conftest import Cluster


@dataclass
class TlsClusterNodes(ClusterNodes):
    certs: Certs | None = None

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.ports[0]}/0"

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True,
                           **self._certs.client_options())

    def cluster_client(self) -> redis.RedisCluster:
        options = {k: v for k, v in self._certs.client_options().items() if k != "ssl"}
        return redis.RedisCluster.from_url(self.url, socket_timeout=5, **options)

    @property
    def _certs(self) -> Certs:
        assert self.certs is not None, "TlsClusterNodes(directory, certs=...)"
        return self.certs

    def _create(self, server: str, cli: str) -> None:
        for port in self.ports:
            self._start_node(server, port)
        for port in self.ports:
            _wait(lambda p=port: self.client(p).ping(), f"node {port} answering over TLS")
        c = self._certs
        subprocess.run([cli, "--tls", "--cacert", c.ca, "--cert", c.client_cert, "--key", c.client_key,
                        "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_ok()

    def _listen_args(self, port: int) -> list[str]:
        c = self._certs
        return ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                "--tls-cert-file", c.server_cert, "--tls-key-file", c.server_key, "--tls-ca-cert-file", c.ca,
                "--tls-auth-clients", "yes"]


class TlsClusterRun(ClusterRun):
    """Supervisors whose pipeline is on the TLS cluster; the test bot's records stay on plain Redis."""

    def __init__(self, tmp_path, nodes: TlsClusterNodes, record_url: str, api_url: str) -> None:
        Cluster.__init__(self, tmp_path, nodes.url, api_url)     # not ClusterRun's: its client has no TLS options
        self.client.close()
        self.nodes = nodes
        self.client = nodes.cluster_client()
        self.record = redis.Redis.from_url(record_url)
        self.record_url = record_url

    def env(self, **extra: str) -> dict[str, str]:
        assert self.nodes.certs is not None
        return super().env(**{**self.nodes.certs.env(client_cert=True), **extra})
