"""The cluster snapshot against the real Redis, and /metrics /healthz /readyz served by aiohttp."""
from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from aiohttp import ClientSession, web
from prometheus_client.parser import text_string_to_metric_families

from botrunner.config.settings import load_settings
from botrunner.metrics import cluster, http
from botrunner.metrics.http import MetricsEnv, listen_address, mount, start_site
from botrunner.redis_keys import GROUP, Keys
from tests.conftest import free_port

KEYS = Keys.for_token("42:metrics-test")
LANES = 4


def run(coro):
    return asyncio.run(coro)


async def lanes_with(client: aioredis.Redis, delivered: int, undelivered: int, age_s: float) -> None:
    """Lane 1 gets `delivered` entries read by a consumer (pending) then `undelivered` unread ones,
    the oldest written `age_s` ago (explicit ids: the id is the intake time in ms)."""
    for n in range(LANES):
        await client.xgroup_create(KEYS.lane(n), GROUP, id="0", mkstream=True)
    start = int((time.time() - age_s) * 1000)
    for i in range(delivered + undelivered):
        await client.xadd(KEYS.lane(1), {"update_id": i, "update": "{}"}, id=f"{start + i}-0")
    if delivered:
        await client.xreadgroup(GROUP, "w1", {KEYS.lane(1): ">"}, count=delivered)


@pytest.mark.parametrize("delivered, undelivered", [(3, 2), (0, 4), (2, 0)])
def test_snapshot_counts_pending_backlog_and_the_oldest_age(redis_url, delivered, undelivered):
    async def main():
        client = aioredis.Redis.from_url(redis_url)
        await lanes_with(client, delivered, undelivered, age_s=30)
        await client.set(KEYS.lane_owner(0), "w1")
        await client.set(KEYS.poll_last, int((time.time() - 12) * 1000))
        snap = await cluster.read(client, KEYS, LANES)
        await client.aclose()
        return snap
    snap = run(main())
    assert snap.redis_up and snap.lanes == LANES
    assert (snap.pending, snap.backlog) == (delivered, undelivered)
    assert 25 < snap.oldest_age_s < 60
    assert snap.unowned_lanes == LANES - 1
    assert snap.poll_age_s is not None and 10 < snap.poll_age_s < 40
    assert not snap.poll_lease_active


def test_snapshot_of_an_idle_pipeline(redis_url):
    async def main():
        client = aioredis.Redis.from_url(redis_url)
        snap = await cluster.read(client, KEYS, LANES)     # no streams at all yet
        await client.aclose()
        return snap
    snap = run(main())
    assert (snap.pending, snap.backlog, snap.oldest_age_s, snap.poll_age_s) == (0, 0, 0.0, None)


async def serve(settings, redis_url, services=None, started=None):
    client = aioredis.Redis.from_url(redis_url)
    env = MetricsEnv(settings, client, KEYS, services)
    if started is not None:
        env.started = started
    app = web.Application()
    mount(app, env)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, client, f"http://127.0.0.1:{port}"


def settings_for(tmp_path, redis_url, **env):
    return load_settings(environ={"STATE_DIR": str(tmp_path), "REDIS_URL": redis_url, "LANES": str(LANES), **env},
                         env_file=None)


def get(url: str):
    async def main():
        async with ClientSession() as session, session.get(url) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()
    return main()


@pytest.fixture
def fresh_snapshots(monkeypatch):
    """Every request reads Redis (the endpoints reuse a snapshot for up to a second otherwise)."""
    monkeypatch.setattr(http, "SNAPSHOT_REUSE_S", 0.0)


def test_readyz_fails_on_a_stale_poll_and_a_stuck_lane_then_passes(tmp_path, redis_url, fresh_snapshots):
    settings = settings_for(tmp_path, redis_url, READY_MAX_POLL_AGE_S="60", READY_MAX_LANE_LAG_S="20")

    async def main():
        runner, client, base = await serve(settings, redis_url, started=time.time() - 3600)
        await lanes_with(client, delivered=1, undelivered=0, age_s=45)
        await client.set(KEYS.poll_last, int((time.time() - 300) * 1000))
        stale = await get(base + "/readyz")
        await client.delete(KEYS.lane(1))
        await client.set(KEYS.poll_last, int(time.time() * 1000))
        fresh = await get(base + "/readyz")
        health = await get(base + "/healthz")
        await runner.cleanup()
        await client.aclose()
        return stale, fresh, health
    stale, fresh, health = run(main())
    assert stale[0] == 503
    assert "READY_MAX_POLL_AGE_S=60" in stale[2] and "READY_MAX_LANE_LAG_S=20" in stale[2]
    assert fresh[0] == 200 and '"ready": true' in fresh[2]
    assert health[0] == 200


def test_readyz_checks_the_database_and_reports_redis_down(tmp_path, redis_url, fresh_snapshots):
    from botrunner.bot.context import Services
    from storage.sqlite.backend import SQLiteStore
    store = SQLiteStore(str(tmp_path / "db.sqlite3"))
    settings = settings_for(tmp_path, redis_url)

    async def main():
        runner, client, base = await serve(settings, redis_url, Services(store=store))
        up = await get(base + "/readyz")
        store.db.path = str(tmp_path)             # a directory: the database cannot be opened
        store.db.close()
        db_down = await get(base + "/readyz")
        await runner.cleanup()
        await client.aclose()
        dead = await serve(settings, "redis://127.0.0.1:1/0")        # nothing listens there
        redis_down = await get(dead[2] + "/readyz")
        scrape = await get(dead[2] + "/metrics")
        await dead[0].cleanup()
        await dead[1].aclose()
        return up, db_down, redis_down, scrape
    up, db_down, redis_down, scrape = run(main())
    assert up[0] == 200 and '"database": "ok"' in up[2]
    assert db_down[0] == 503 and '"database": "unreachable' in db_down[2]
    assert redis_down[0] == 503 and '"redis": "unreachable"' in redis_down[2]
    assert scrape[0] == 200 and "botrunner_redis_up 0.0" in scrape[2]


def test_metrics_endpoint_serves_the_exposition_format(tmp_path, redis_url):
    settings = settings_for(tmp_path, redis_url, METRICS_PATH="/internal/metrics")

    async def main():
        runner, client, base = await serve(settings, redis_url)
        await lanes_with(client, delivered=2, undelivered=1, age_s=5)
        found = await get(base + "/internal/metrics")
        missing = await get(base + "/metrics")
        await runner.cleanup()
        await client.aclose()
        return found, missing
    (status, content_type, text), missing = run(main())
    assert status == 200 and content_type.startswith("text/plain") and missing[0] == 404
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["botrunner_lane_pending_updates"].samples[0].value == 2
    assert families["botrunner_lane_backlog_updates"].samples[0].value == 1
    assert families["botrunner_redis_up"].samples[0].value == 1


def test_with_metrics_listen_the_web_server_keeps_only_health(tmp_path, redis_url):
    port = free_port()
    settings = settings_for(tmp_path, redis_url, METRICS_LISTEN=f"127.0.0.1:{port}")

    async def main():
        runner, client, base = await serve(settings, redis_url)
        public = await get(base + "/metrics")
        site = await start_site(MetricsEnv(settings, client, KEYS))
        private = await get(f"http://127.0.0.1:{port}/metrics")
        await site.cleanup()
        await runner.cleanup()
        await client.aclose()
        return public, private
    public, private = run(main())
    assert public[0] == 404 and private[0] == 200
    assert listen_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert listen_address(":9464") == (None, 9464)
    assert listen_address("[::1]:9464") == ("::1", 9464)


def test_a_snapshot_is_reused_for_a_second_so_load_balancers_cost_little(tmp_path, redis_url):
    settings = settings_for(tmp_path, redis_url)

    async def main():
        runner, client, base = await serve(settings, redis_url)
        await client.set(KEYS.lane_owner(0), "w1")
        first = await get(base + "/metrics")
        await client.delete(KEYS.lane_owner(0))
        second = await get(base + "/metrics")              # within SNAPSHOT_REUSE_S: the same snapshot
        await asyncio.sleep(http.SNAPSHOT_REUSE_S + 0.2)
        third = await get(base + "/metrics")
        await runner.cleanup()
        await client.aclose()
        return first, second, third

    def unowned(text: str) -> float:
        family = next(f for f in text_string_to_metric_families(text) if f.name == "botrunner_lanes_unowned")
        return family.samples[0].value
    first, second, third = run(main())
    assert (unowned(first[2]), unowned(second[2]), unowned(third[2])) == (LANES - 1, LANES - 1, LANES)


def test_webhook_mode_leaves_the_poll_gauges_out():
    snap = cluster.Snapshot(redis_up=True, pipeline_known=True, poll_age_s=5000.0)
    polling = {f.name for f in cluster.SnapshotCollector(snap).collect()}
    webhook = {f.name for f in cluster.SnapshotCollector(snap, polling=False).collect()}
    assert polling - webhook == {"botrunner_poll_last_success_age_seconds", "botrunner_poll_lease_active"}


def test_a_redis_that_refuses_the_reads_is_still_up(redis_url):
    async def main():
        client = aioredis.Redis.from_url(redis_url)
        await client.set(KEYS.lane(0), "not a stream")          # XINFO on it fails: WRONGTYPE
        snap = await cluster.read(client, KEYS, LANES)
        await client.aclose()
        return snap
    snap = run(main())
    assert snap.redis_up and not snap.pipeline_known
    names = {f.name for f in cluster.SnapshotCollector(snap).collect()}
    assert names == {"botrunner_redis_up", "botrunner_redis_ping_seconds"}
