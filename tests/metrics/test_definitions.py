"""The metric vocabulary: prefixed names with units, bounded labels, and hooks that count what they say."""
from __future__ import annotations

import os
import signal

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from botrunner.metrics import cluster, definitions, record

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def all_metrics() -> list[MetricWrapperBase]:
    built = [definitions.process_gauge(key) for key in definitions.PROCESS_GAUGES]
    return [m for m in vars(definitions).values() if isinstance(m, MetricWrapperBase)] + built


def exposed_names() -> set[str]:
    """Every sample name a scrape can show (process metrics and the cluster snapshot)."""
    names = {m._name + suffix for m in all_metrics() for suffix in (*SUFFIXES[m._type], "")}
    snap = cluster.Snapshot(redis_up=True, pipeline_known=True, poll_age_s=1.0)
    return names | {family.name for family in cluster.SnapshotCollector(snap).collect()}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_names_are_prefixed_and_carry_units():
    for metric in all_metrics():
        assert metric._name.startswith("botrunner_"), metric._name
        if metric._type == "histogram":
            assert metric._name.endswith("_seconds"), metric._name
    assert "botrunner_worker_resident_memory_bytes" in exposed_names()


def test_update_types_and_methods_outside_the_vocabulary_become_other():
    assert record.update_type({"update_id": 1, "callback_query": {}}) == "callback_query"
    assert record.update_type({"update_id": 1, "made_up_" + "x" * 50: {}}) == "other"
    before = sample("botrunner_sends_total", method="other", result="ok")
    record.send("someMethodNobodyKnows", "ok")
    assert sample("botrunner_sends_total", method="other", result="ok") == before + 1
    assert sample("botrunner_sends_total", method="someMethodNobodyKnows", result="ok") == 0


def test_intake_counts_by_type_and_what_intake_dropped():
    before = sample("botrunner_updates_received_total", source="webhook", type="edited_message")
    dup = sample("botrunner_updates_duplicate_total", source="webhook")
    record.intake("webhook", [{"update_id": 5, "edited_message": {}}, {"update_id": 6, "edited_message": {}},
                              {"no": "id"}], duplicates=1, rejected=1)
    assert sample("botrunner_updates_received_total", source="webhook", type="edited_message") == before + 2
    assert sample("botrunner_updates_duplicate_total", source="webhook") == dup + 1


def test_latency_is_measured_from_the_lane_entry_id():
    import time
    entry = f"{int((time.time() - 3) * 1000)}-0"
    assert 2.5 < record.entry_age_s(entry) < 30
    assert record.entry_age_s("garbage") == 0.0
    before = sample("botrunner_update_latency_seconds_count", route="command:ping")
    record.update_done(entry.encode(), "command:ping")
    assert sample("botrunner_update_latency_seconds_count", route="command:ping") == before + 1
    assert sample("botrunner_update_latency_seconds_bucket", route="command:ping", le="1.0") == 0


@pytest.mark.parametrize("status, aborted, retiring, cause", [
    (signal.SIGKILL, False, False, "killed"),
    (signal.SIGABRT, True, False, "heartbeat"),
    (1 << 8, False, False, "crashed"),
    (0, False, False, "exited"),
    (0, False, True, None),          # a planned stop (roll, recycle, fewer workers): counted when decided
])
def test_restart_causes(status, aborted, retiring, cause):
    assert os.WIFSIGNALED(signal.SIGKILL) and os.WEXITSTATUS(1 << 8) == 1
    causes = ("killed", "heartbeat", "crashed", "exited")
    before = {c: sample("botrunner_worker_restarts_total", cause=c) for c in causes}
    record.worker_exited(int(status), aborted, retiring)
    after = {c: sample("botrunner_worker_restarts_total", cause=c) for c in causes}
    assert {c for c in causes if after[c] != before[c]} == ({cause} if cause else set())


def test_db_timer_counts_errors_and_redis_errors_only_count_connection_problems():
    import redis
    errors = sample("botrunner_db_errors_total", backend="sqlite", operation="query")
    calls = sample("botrunner_db_call_duration_seconds_count", backend="sqlite", operation="query")
    with pytest.raises(RuntimeError), record.db_timer("sqlite", "query"):
        raise RuntimeError("locked")
    assert sample("botrunner_db_errors_total", backend="sqlite", operation="query") == errors + 1
    assert sample("botrunner_db_call_duration_seconds_count", backend="sqlite", operation="query") == calls + 1
    before = sample("botrunner_redis_errors_total", component="test")
    record.redis_error("test", ValueError("not Redis"))
    record.redis_error("test", redis.ConnectionError("refused"))
    assert sample("botrunner_redis_errors_total", component="test") == before + 1


def test_a_completion_another_worker_acknowledged_first_counts_as_duplicate():
    ok, dup = sample("botrunner_updates_handled_total", result="ok"), sample("botrunner_updates_handled_total",
                                                                            result="duplicate")
    record.update_done(b"0-0", "command:x", acked=False)
    assert sample("botrunner_updates_handled_total", result="ok") == ok
    assert sample("botrunner_updates_handled_total", result="duplicate") == dup + 1
