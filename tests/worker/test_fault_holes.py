"""Holes in the worker's own machinery: Redis failures during delivery, hung handlers, a heartbeat that
waited on the network, wall-clock steps, and a long poll that could outlive its lease."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis
from aiohttp import web
from redis.exceptions import RedisClusterException, SlotNotCoveredError

from botrunner.bot.context import Services
from botrunner.bot.router import Router
from botrunner.bot.states import MemoryStates
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.poller import Poller
from botrunner.intake.store import Intake
from botrunner.lanes.chat_order import Job
from botrunner.lanes.membership import Registry
from botrunner.processing.completion import Completion
from botrunner.processing.handler_pool import HandlerPool
from botrunner.processing.processor import Processor
from botrunner.redis_keys import GROUP, Keys
from botrunner.supervisor.arbiter import Supervisor
from botrunner.worker.heartbeat import HeartbeatFile
from botrunner.worker.process import Worker, pipeline_redis
from tests import aio
from tests.updates import message
from tests.worker.booted import run_booted_worker

KEYS = Keys.for_token("123:abc")


def run(coro_fn, redis_url):
    return aio.run(coro_fn, redis_url, timeout=60)


async def stored_jobs(client, updates: list[dict]) -> list[Job]:
    await client.xgroup_create(KEYS.lane(0), GROUP, id="0", mkstream=True)
    for update in updates:
        await client.xadd(KEYS.lane(0), {"update_id": update["update_id"], "update": json.dumps(update)})
    entries = (await client.xreadgroup(GROUP, "w", {KEYS.lane(0): ">"}))[0][1]
    return [Job(0, 1, entry_id.decode(), fields) for entry_id, fields in entries]


# --- 6: an infrastructure failure while delivering retries from the kept outbox ---

@pytest.mark.parametrize("failure", [
    redis.ConnectionError("Redis went away mid-delivery"),
    # no RedisError: redis-py's cluster client while a failover leaves its slot map without the lane's slot
    SlotNotCoveredError('Slot "1234" not covered by the cluster.'),
    RedisClusterException("Redis Cluster cannot be connected. Please provide at least one reachable node"),
], ids=["connection", "slot-not-covered", "cluster-unreachable"])
def test_a_redis_failure_while_delivering_does_not_rerun_the_handler(redis_url, redis_client, failure):
    runs, delivered = [], []
    router = Router()

    @router.default()
    def once(ctx):
        runs.append(ctx.update_id)
        ctx.reply("hello")

    async def flaky_deliver(update_id, data, outbox, fence=None, delivery=None):
        if not delivered:
            delivered.append(None)
            raise failure
        delivered.append(outbox)

    async def scenario(client):
        [job] = await stored_jobs(client, [message(7, 1, "hi")])
        processor = Processor(router, Completion(client, KEYS), lambda m, p: asyncio.sleep(0), HandlerPool(2),
                              Services(), MemoryStates(), 3, lambda lane: True, deliver=flaky_deliver)
        await processor.process(job)
    run(scenario, redis_url)
    assert runs == [7]                                   # the handler ran once ...
    assert delivered[1] == [("sendMessage", {"chat_id": 1, "text": "hello"})]   # ... its outbox went on the retry
    assert redis_client.hexists(KEYS.done(0, 7), KEYS.bucket_field(7))


# --- 8: a handler that never returns ---

def test_a_hung_handler_is_dead_lettered_and_its_chat_moves_on(redis_url, redis_client):
    release = threading.Event()
    handled = []
    router = Router()

    @router.default()
    def maybe_hang(ctx):
        if ctx.text == "hang":
            release.wait(60)
        handled.append(ctx.update_id)

    async def scenario(client):
        jobs = await stored_jobs(client, [message(7, 1, "hang"), message(8, 1, "next")])
        pool = HandlerPool(1, timeout_s=0.5)
        processor = Processor(router, Completion(client, KEYS), lambda m, p: asyncio.sleep(0), pool,
                              Services(), MemoryStates(), 3, lambda lane: True)
        for job in jobs:
            await asyncio.wait_for(processor.process(job), 10)
        return pool.abandoned, pool.exhausted
    try:
        assert run(scenario, redis_url) == (1, True)
    finally:
        release.set()
    assert handled[:1] == [8]                          # the next update ran on a fresh thread
    dead = redis_client.xrange(KEYS.dead)
    assert len(dead) == 1 and b"HANDLER_TIMEOUT_S" in dead[0][1][b"error"]
    assert int(redis_client.hget(KEYS.faults, "handler_timeouts")) == 1


# --- 9: the heartbeat never waits on the network; Redis calls time out; SIGABRT dumps a traceback ---

@pytest.fixture
def silent_redis():
    """A TCP port that accepts connections and never answers: a Redis behind a silent partition."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


def test_the_heartbeat_keeps_beating_while_redis_is_silent(settings, silent_redis):
    worker = Worker(settings.replace(redis_url=silent_redis, redis_timeout_s=30), HeartbeatFile(), 1)

    async def scenario():
        from botrunner.sender.metrics import MetricsPublisher, SendMetrics
        client = pipeline_redis(settings.replace(redis_url=silent_redis, redis_timeout_s=30))
        worker.stopping = asyncio.Event()
        worker.ppid = os.getppid()                    # as if this test process were the forked worker
        worker.metrics = MetricsPublisher(client, "k", SendMetrics())
        beats = []
        original = worker.heartbeat.notify
        worker.heartbeat.notify = lambda: (beats.append(time.monotonic()), original())
        task = asyncio.create_task(worker._beat())
        await asyncio.sleep(3.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return len(beats)
    assert asyncio.run(scenario()) >= 3


def test_pipeline_redis_calls_time_out_on_a_silent_redis(settings, silent_redis):
    async def scenario():
        client = pipeline_redis(settings.replace(redis_url=silent_redis, redis_timeout_s=1))
        started = time.monotonic()
        with pytest.raises((redis.TimeoutError, redis.ConnectionError, asyncio.TimeoutError)):
            await asyncio.wait_for(client.get("x"), 10)
        return time.monotonic() - started
    assert asyncio.run(scenario()) < 5


def test_sigabrt_dumps_the_workers_python_traceback(tmp_path):
    done = run_booted_worker(tmp_path, after="os.kill(os.getpid(), signal.SIGABRT)\n")
    assert done.returncode == -6
    assert "Fatal Python error: Aborted" in done.stderr and "File " in done.stderr


# --- 10: liveness survives wall-clock steps; cross-host timestamps come from Redis ---

def test_a_wall_clock_step_does_not_kill_a_healthy_worker(settings, monkeypatch):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        supervisor = Supervisor(settings)
        worker = Worker(settings, HeartbeatFile(), 1)
        worker.pid = sleeper.pid
        supervisor.workers[sleeper.pid] = worker
        worker.heartbeat.notify()
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 120)      # NTP stepped the clock forward 2 minutes
        supervisor.murder_workers()
        assert not worker.aborted and sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_registry_timestamps_come_from_the_redis_clock(redis_url, redis_client, monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3600)          # this host's clock is an hour behind

    async def scenario(client):
        registry = Registry(client, KEYS, "w", 5000)
        await registry.beat([0], False)
        return await registry.live()
    assert run(scenario, redis_url) == ["w"]
    redis_now_ms = redis_client.time()[0] * 1000
    assert abs(redis_client.zscore(KEYS.workers, "w") - redis_now_ms) < 10_000


# --- 11: a long poll starts only when the lease outlives it ---

def test_a_poll_never_starts_with_less_lease_left_than_its_timeout(redis_url, port):
    seen: list[tuple[int, float]] = []

    async def scenario(client):
        lease = PollLease(client, KEYS, "w", 6000)
        poller = Poller(lease, Intake(client, KEYS), f"http://127.0.0.1:{port}", "123:abc", 4, 3)

        async def get_updates(request):
            body = await request.json()
            seen.append((int(body["timeout"]), lease._valid_until - time.monotonic()))
            poller.stop()
            return web.json_response({"ok": True, "result": []})
        app = web.Application()
        app.router.add_post("/bot123:abc/getUpdates", get_updates)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            assert await lease.acquire()
            lease._valid_until = time.monotonic() + 1.0      # renewed long ago: 1 s of the lease left
            import aiohttp
            async with aiohttp.ClientSession() as session:
                await asyncio.wait_for(poller._poll_until_stopped(session), 10)
        finally:
            await runner.cleanup()
    run(scenario, redis_url)
    timeout, left = seen[0]
    assert left >= timeout + 0.2, f"a {timeout}s poll started with {left:.2f}s of lease left"


# --- 5: WAIT for replicas before a batch is confirmed ---

def test_a_batch_not_replicated_in_time_is_never_confirmed(redis_url, redis_client, emulator_for_wait):
    """INTAKE_WAIT_REPLICAS=1 on a Redis without replicas: WAIT falls short, so the poller keeps asking
    with the old offset (Telegram keeps the batch) instead of confirming it."""
    emu, control = emulator_for_wait
    control.inject_command("123:abc", 100, "start")

    async def scenario(client):
        lease = PollLease(client, KEYS, "w", 2000)
        poller = Poller(lease, Intake(client, KEYS, wait_replicas=1, wait_timeout_ms=50), emu.url, "123:abc", 4, 0)
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(1.5)
        poller.stop()
        await asyncio.wait_for(task, 10)
    run(scenario, redis_url)
    assert control.state("123:abc")["pending_updates"] == 1      # never confirmed
    offsets = {int(p["offset"] or 0) for p in control.poll_stats("123:abc")["calls"]}
    assert offsets == {0}


@pytest.fixture
def emulator_for_wait():
    from botrunner.emulator import running_emulator
    from botrunner.emulator.client import ControlClient
    with running_emulator(port=0) as emu:
        with ControlClient(emu.url) as control:
            yield emu, control
