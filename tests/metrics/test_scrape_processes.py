"""Real processes: a supervisor with several workers behind METRICS_LISTEN, a burst, a worker killed mid-way.

Whichever worker answers a scrape, it reports every process's counters (the killed one's too), so
the totals equal what the cluster did; promtool accepts the exposition.
"""
from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request

import pytest

from tests.conftest import free_port
from tests.metrics.conftest import run_promtool, scrape, total, value
from tests.runner.conftest import TOKEN, burst, wait_until

pytestmark = pytest.mark.slow


def handled_ok(url: str) -> float:
    return value(scrape(url)[1], "botrunner_updates_handled_total", result="ok")


def rss_pids(url: str) -> set[int]:
    """Pids with a live worker memory gauge in the scrape."""
    return {int(dict(labels)["pid"]) for (name, labels) in scrape(url)[1]
            if name == "botrunner_worker_resident_memory_bytes"}


def drained(url: str) -> bool:
    """Redis was read (the lane gauges are there) and no update waits in any lane."""
    samples = scrape(url)[1]
    lane_gauges = ("botrunner_lane_pending_updates", "botrunner_lane_backlog_updates",
                   "botrunner_lane_oldest_pending_age_seconds")
    return all(samples.get((name, ())) == 0 for name in lane_gauges)


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_burst_over_workers_with_a_restart_scrapes_exact_totals(cluster, emulator, promtool):
    _, control = emulator
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    sup = cluster.start(workers=3, METRICS_LISTEN=f"127.0.0.1:{port}")
    first = burst(control, range(1000, 1040), per_user=5)
    wait_until(lambda: handled_ok(url) >= first // 3, 60, 0.2, "a third of the first half handled")
    victim = next(pid for pid in cluster.worker_pids(sup.pid) if pid != cluster.poller_pid())
    os.kill(victim, signal.SIGKILL)                   # mid-burst: it has updates in flight
    second = burst(control, range(2000, 2040), per_user=5)
    n = first + second
    wait_until(lambda: handled_ok(url) >= n, 120, 0.3, f"{n} updates handled in the scrape")
    wait_until(lambda: len(cluster.worker_pids(sup.pid)) == 3 and victim not in cluster.worker_pids(sup.pid),
               60, 0.3, "the killed worker replaced")

    text, samples = scrape(url)
    assert value(samples, "botrunner_updates_handled_total", result="ok") == n
    assert value(samples, "botrunner_updates_received_total", source="poll", type="message") == n
    assert value(samples, "botrunner_update_latency_seconds_count", route="command:start") == n
    assert value(samples, "botrunner_update_latency_seconds_sum", route="command:start") > 0
    # handlers of updates the killed worker had running ran again elsewhere: at least n runs
    assert value(samples, "botrunner_handler_duration_seconds_count", route="command:start") >= n
    assert value(samples, "botrunner_handler_duration_seconds_bucket", route="command:start", le="+Inf") >= n
    assert value(samples, "botrunner_sends_total", method="sendMessage", result="ok") >= n
    assert value(samples, "botrunner_send_limiter_wait_seconds_count") >= n
    assert value(samples, "botrunner_worker_restarts_total", cause="killed") == 1
    assert value(samples, "botrunner_polls_total", result="ok") >= 1
    assert value(samples, "botrunner_poll_lease_held") == 1
    assert value(samples, "botrunner_redis_up") == 1
    assert value(samples, "botrunner_workers_running") == 3
    # the supervisor drops a reaped worker's live gauges (mark_process_dead)
    wait_until(lambda: victim not in rss_pids(url), 30, 0.3, "the killed worker's memory gauge gone")
    assert set(cluster.worker_pids(sup.pid)) <= rss_pids(url)
    wait_until(lambda: drained(url), 60, 0.3, "lanes drained")
    assert value(scrape(url)[1], "botrunner_updates_handled_total", result="ok") == n     # nothing counted twice

    checked = run_promtool(promtool, "check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    status, health = get_json(f"http://127.0.0.1:{port}/healthz")
    assert status == 200 and health["status"] == "ok"
    status, ready = get_json(f"http://127.0.0.1:{port}/readyz")
    assert status == 200 and ready["ready"], ready
    assert ready["checks"]["redis"] == "ok" and ready["checks"]["poll"] == "ok" and ready["checks"]["lanes"] == "ok"


def test_a_new_supervisor_starts_its_counters_from_zero(cluster, emulator):
    _, control = emulator
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    first = cluster.start(workers=2, METRICS_LISTEN=f"127.0.0.1:{port}")
    n = burst(control, range(3000, 3010), per_user=2)
    wait_until(lambda: handled_ok(url) >= n, 60, 0.3, f"{n} updates handled")
    os.killpg(first.pid, signal.SIGTERM)
    first.wait(30)
    cluster.start(workers=2, METRICS_LISTEN=f"127.0.0.1:{port}")
    # the stale files of the first run were removed at start: nothing handled since
    assert handled_ok(url) == 0
    more = burst(control, range(4000, 4005), per_user=1)
    wait_until(lambda: handled_ok(url) >= more, 60, 0.3, f"{more} more updates handled")
    assert handled_ok(url) == more


def test_a_roll_dead_letters_and_retries_are_counted_by_cause(cluster, emulator):
    _, control = emulator
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    sup = cluster.start(workers=2, METRICS_LISTEN=f"127.0.0.1:{port}", MAX_ATTEMPTS="2")
    control.inject_batch(TOKEN, [{"kind": "command", "user_id": 5000, "command": "fail"},
                                 {"kind": "command", "user_id": 5001, "command": "flaky"}])
    wait_until(lambda: value(scrape(url)[1], "botrunner_updates_handled_total", result="dead_lettered") == 1
               and handled_ok(url) == 1, 60, 0.3, "the failing update dead-lettered, the flaky one handled")
    old = set(cluster.worker_pids(sup.pid))
    os.kill(sup.pid, signal.SIGHUP)                  # roll: each worker replaced by a new one, one at a time
    wait_until(lambda: len(set(cluster.worker_pids(sup.pid)) - old) == 2 and not old & set(cluster.worker_pids(sup.pid)),
               90, 0.3, "both workers rolled")
    samples = scrape(url)[1]
    assert value(samples, "botrunner_worker_restarts_total", cause="rolled") == 2
    assert total(samples, "botrunner_worker_restarts_total") == 2      # planned stops are not "exited"
    assert value(samples, "botrunner_updates_handled_total", result="retried") == 2   # /fail once, /flaky once
    assert value(samples, "botrunner_dead_letters_total") == 1
    assert value(samples, "botrunner_dead_letter_stream_entries") == 1
    # a retired worker leaves the registry, then exits and is reaped: its gauges go at the reap
    wait_until(lambda: not rss_pids(url) & old, 30, 0.3, "the retired workers' memory gauges gone")


def test_429s_freezes_and_failed_polls_are_counted(cluster, emulator):
    _, control = emulator
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    cluster.start(workers=2, METRICS_LISTEN=f"127.0.0.1:{port}")
    control.add_fault("sendMessage", 429, retry_after=1, times=1, match={"chat_id": 6000}, token=TOKEN)
    control.add_fault("getUpdates", 502, times=1, token=TOKEN)
    control.inject_batch(TOKEN, [{"kind": "command", "user_id": 6000, "command": "start"}])
    wait_until(lambda: value(scrape(url)[1], "botrunner_sends_total", method="sendMessage", result="ok") == 1,
               60, 0.3, "the reply sent after its 429")
    samples = scrape(url)[1]
    assert value(samples, "botrunner_sends_total", method="sendMessage", result="429") == 1
    assert value(samples, "botrunner_flood_freezes_total", scope="chat") == 1
    assert value(samples, "botrunner_polls_total", result="error") == 1
    assert value(samples, "botrunner_updates_handled_total", result="ok") == 1
