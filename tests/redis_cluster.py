"""A real Redis Cluster for tests: Debian's redis-server with --cluster-enabled on free ports.

`ClusterNodes(directory).start()` starts 3 masters and one replica each, in a temporary directory,
joins them with `redis-cli --cluster create ... --cluster-yes` and waits until every node says
cluster_state:ok. `failover(master)` promotes that master's replica (CLUSTER FAILOVER on it), as an
operator would; `kill(master)` SIGKILLs a node. Nothing uses Redis' default port.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port

# Without these a new cluster took 11 s to come up, 4 s with them: a master waits 5 s for more replicas
# before a first sync (repl-diskless-sync-delay), and CLUSTER SLOTS lists a replica only once its
# replication offset is past 0, which on an idle master is at its first ping to its replicas (every 10 s).
FAST_REPLICATION = ["--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"]


def cluster_binaries() -> tuple[str, str]:
    """(redis-server, redis-cli) able to run a cluster; missing: skip locally, fail under CI=true."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server and cli:
        return server, cli
    reason = "Debian's redis-server and redis-tools are needed for the Redis Cluster tests (make test-deps)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class ClusterNodes:
    """3 masters + 3 replicas on 127.0.0.1, each in its own directory under `directory`."""

    directory: Path
    masters: int = 3
    replicas: int = 1
    ports: list[int] = field(default_factory=list)
    procs: dict[int, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """A URL naming one node: a cluster client finds the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True)

    def start(self) -> "ClusterNodes":
        """A fresh cluster; one that never settles (seen once in a full run: created, then not
        cluster_state:ok with every replica listed within a minute) is thrown away and built again
        once on new ports, and a second such failure shows the nodes' logs."""
        server, cli = cluster_binaries()
        for attempt in (1, 2):
            self.ports = [_cluster_port() for _ in range(self.masters * (1 + self.replicas))]
            try:
                self._create(server, cli)
                return self
            except TimeoutError as exc:
                logs = self.log_tails()
                self.stop()
                if attempt == 2:
                    raise TimeoutError(f"{exc} (twice); the nodes' logs:\n{logs}") from exc
            except BaseException:
                self.stop()
                raise
        return self

    def log_tails(self, lines: int = 12) -> str:
        """The last lines of every node's log, for a failure message."""
        parts = []
        for port in self.ports:
            path = self.directory / str(port) / "redis.log"
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            parts.append(f"--- node {port}:\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)

    def _create(self, server: str, cli: str) -> None:
        for port in self.ports:
            self._start_node(server, port)
        for port in self.ports:
            _wait(lambda p=port: self.client(p).ping(), f"node {port} answering")
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_ok()

    def _start_node(self, server: str, port: int) -> None:
        home = self.directory / str(port)
        home.mkdir(parents=True, exist_ok=True)
        log = open(home / "redis.log", "ab")
        self.procs[port] = subprocess.Popen(
            [server, *self._listen_args(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(home / "nodes.conf"), "--cluster-node-timeout", "2000",
             "--dir", str(home), "--appendonly", "yes", "--save", "", "--daemonize", "no",
             "--protected-mode", "no", *FAST_REPLICATION], stdout=log, stderr=subprocess.STDOUT)

    def _listen_args(self, port: int) -> list[str]:
        """How a node listens (and talks to the other nodes): plain TCP on `port` here."""
        return ["--port", str(port)]

    def wait_ok(self, timeout: float = 60.0) -> None:
        """Every live node sees all slots served (cluster_state:ok) and agrees on the masters."""
        def ok() -> bool:
            for port in self.live_ports():
                if self.client(port).cluster("info")["cluster_state"] != "ok":
                    return False
            if len(self.master_ports()) != self.masters:
                return False
            slots = self.client(self.live_ports()[0]).cluster("slots")
            return all(len(entry) - 2 >= 1 + min(self.replicas, self._replicas_alive()) for entry in slots)
        _wait(ok, "cluster_state:ok on every node, every replica listed", timeout)

    def _replicas_alive(self) -> int:
        return sum(1 for role in self.roles().values() if role == "slave") // self.masters

    def live_ports(self) -> list[int]:
        return [p for p in self.ports if self.procs[p].poll() is None]

    def roles(self) -> dict[int, str]:
        """port -> 'master' / 'slave', as each live node reports itself."""
        return {p: self.client(p).info("replication")["role"] for p in self.live_ports()}

    def master_ports(self) -> list[int]:
        return sorted(p for p, role in self.roles().items() if role == "master")

    def replica_of(self, master: int) -> int:
        for port in self.live_ports():
            info = self.client(port).info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == master:
                return port
        raise LookupError(f"no replica of {master}")

    def master_of_slot(self, slot: int) -> int:
        for start, end, master, *_ in self.client(self.live_ports()[0]).cluster("slots"):
            if start <= slot <= end:
                return int(master[1])
        raise LookupError(slot)

    def failover(self, master: int, timeout: float = 30.0) -> int:
        """Promote `master`'s replica with CLUSTER FAILOVER on it (waits until it serves); returns its port."""
        replica = self.replica_of(master)
        _wait(lambda: self.client(replica).info("replication").get("master_link_status") == "up",
              f"replica {replica} in sync")
        served = [(start, end) for start, end, owner, *_ in self.client(master).cluster("slots") if int(owner[1]) == master]
        self.client(replica).execute_command("CLUSTER", "FAILOVER")
        _wait(lambda: self.roles().get(replica) == "master" and self.roles().get(master) == "slave",
              f"{replica} promoted over {master}", timeout)
        self.wait_ok()
        # each node learns the new slot map by gossip: until then its CLUSTER SLOTS (master_of_slot) names the old one
        _wait(lambda: all(self._serves(port, replica, served) for port in self.live_ports()),
              f"every node listing {replica} as the master of {master}'s slots", timeout)
        return replica

    def _serves(self, port: int, master: int, ranges: list[tuple[int, int]]) -> bool:
        listed = {(start, end): int(owner[1]) for start, end, owner, *_ in self.client(port).cluster("slots")}
        return all(listed.get(r) == master for r in ranges)

    def flush(self) -> None:
        """Empty every master (the replicas follow) and their script caches."""
        for port in self.master_ports():
            node = self.client(port)
            node.flushall()
            node.script_flush()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        for proc in self.procs.values():
            proc.wait(10)
        self.procs.clear()


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (so at most 55535)."""
    while True:
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _wait(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.1)
