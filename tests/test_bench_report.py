"""The benchmark report: the stability column and the sections other benchmark commands keep in it."""
from __future__ import annotations

from types import SimpleNamespace

from benchmarks.report import KEPT, REPLY_BEGIN, spread, summary_table, write_markdown, write_reply_section


def result(system: str, rep: int, rate: float) -> dict:
    return {"system": system, "rep": rep, "updates_per_s": rate, "burst_success": 1.0, "p50_ms": 10.0,
            "p95_ms": 20.0, "p99_ms": 30.0, "max_ms": 40.0, "success": 1.0, "cpu_per_1000": 0.5,
            "redis_cpu_per_1000": 0.1, "cpu_total_per_1000": 0.6, "rss_worker_mb": 60.0, "rss_total_mb": 200.0,
            "db_per_update": 2.0, "redis_per_update": 9.0}


def test_spread_shows_min_median_max_and_the_worst_distance():
    results = [result("botrunner-2", r, v) for r, v in enumerate((900.0, 1000.0, 1150.0))]
    assert spread(results, "botrunner-2", "updates_per_s") == "900 / 1000 / 1150 (±15 %)"


def test_rewriting_the_report_keeps_the_sections_below_the_marker(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# old report\n\n{KEPT}\n\n## Webhook load test\n\n| a | b |\n")
    args = SimpleNamespace(systems=["botrunner-2"], repeats=1, burst=10, guide=10, warmup=1)
    write_markdown([result("botrunner-2", 0, 1000.0)], args, "make bench", 60.0, path)
    text = path.read_text()
    assert "# old report" not in text and "botrunner, 2 workers" in text
    assert text.count(KEPT) == 1 and text.rstrip().endswith("## Webhook load test\n\n| a | b |")
    write_markdown([result("botrunner-2", 0, 1000.0)], args, "make bench", 60.0, path)
    assert path.read_text().count("## Webhook load test") == 1


def test_the_summary_shows_ratios_to_every_peer_and_cpu_including_redis():
    results = [result("botrunner-2", 0, 2000.0), result("aiogram", 0, 800.0), result("aiohttp", 0, 4000.0)]
    row = summary_table(results, ["botrunner-2", "aiogram", "aiohttp"])[2]
    assert "| - | 2.50x | 0.50x |" in row and "| 0.60 (0.10) |" in row


def test_the_reply_burst_section_is_replaced_in_place_below_the_marker(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# top\n\n{KEPT}\n\n## Webhook load test\n")
    args = SimpleNamespace(systems=["botrunner-2"], repeats=1, burst=10, guide=10, warmup=1)
    write_reply_section([result("botrunner-2", 0, 1000.0)], args, "compare.py --workload reply", 60.0, path)
    write_reply_section([result("botrunner-2", 0, 1234.0)], args, "compare.py --workload reply", 60.0, path)
    text = path.read_text()
    assert text.startswith("# top") and text.count(REPLY_BEGIN) == 1 and "| 1234 |" in text and "| 1000 |" not in text
    assert text.index(KEPT) < text.index("## Webhook load test") < text.index(REPLY_BEGIN)


def test_a_marked_section_is_replaced_in_place_or_appended(tmp_path):
    from benchmarks.sections import write_section
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- x:begin -->\nold\n<!-- x:end -->\n\n## Kept\n")
    write_section(doc, "<!-- x:begin -->\nnew\n<!-- x:end -->\n", "<!-- x:begin -->", "<!-- x:end -->")
    assert "old" not in doc.read_text() and "new" in doc.read_text() and "## Kept" in doc.read_text()
    write_section(doc, "<!-- y:begin -->\nother\n<!-- y:end -->\n", "<!-- y:begin -->", "<!-- y:end -->")
    assert doc.read_text().endswith("<!-- y:begin -->\nother\n<!-- y:end -->\n") and "new" in doc.read_text()


def test_every_run_shows_the_host_probe_measured_during_its_burst():
    from benchmarks.report import runs_table
    slow, old = result("botrunner-2", 0, 600.0) | {"probe_us": 1650.0, "others_cores": 0.8}, result("botrunner-2", 1, 1200.0)
    rows = runs_table([slow, old])
    assert "host probe us" in rows[0] and "others' cores" in rows[0] and "| 600 | 1650 | 0.80 |" in rows[2]
    assert "| 1200 | - | - |" in rows[3]      # results from before the probe existed


def test_the_host_probe_samples_a_fixed_work_while_its_block_runs():
    import time

    from benchmarks.host_probe import HostProbe
    with HostProbe(every_s=0.01, loops=1000) as probe:
        time.sleep(0.2)
    assert len(probe.samples_us) >= 5 and probe.median_us() > 0
    with HostProbe(every_s=10) as never:
        pass
    assert never.median_us() == 0.0


def test_others_cpu_is_the_machines_busy_time_less_ours():
    import itertools
    import time

    from benchmarks.host_probe import OthersCpu
    busy, ours = itertools.count(10.0, 0.3), itertools.count(5.0, 0.1)    # 0.3 s busy, 0.1 s of it ours
    with OthersCpu(lambda: next(ours), lambda: next(busy)) as others:
        time.sleep(0.1)
    assert 1.0 < others.cores <= 2.0                    # 0.2 s of others' CPU in about 0.1 s
