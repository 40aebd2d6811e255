"""The Grafana dashboard: valid JSON, every query parses as PromQL (promtool) and names real metrics."""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.metrics.conftest import run_promtool
from tests.metrics.test_definitions import exposed_names

DASHBOARD = Path(__file__).resolve().parents[2] / "systemd" / "grafana-dashboard.json"


def queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_every_query_is_valid_promql(promtool, tmp_path):
    exprs = queries()
    assert len(exprs) >= 20
    # Grafana's variables replaced by what they expand to; each query becomes a recording rule promtool parses
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for n, expr in enumerate(exprs):
        concrete = expr.replace("$__rate_interval", "5m").replace("$instance", ".*")
        rules += [f"      - record: dashboard:query_{n}", f"        expr: {json.dumps(concrete)}"]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text("\n".join(rules) + "\n")
    checked = run_promtool(promtool, "check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_queries_name_only_metrics_botrunner_exposes():
    used = {name for expr in queries() for name in re.findall(r"\bbotrunner_[a-z0-9_]+", expr)}
    assert used <= exposed_names(), used - exposed_names()
    assert {"botrunner_update_latency_seconds_bucket", "botrunner_user_cache_lookups_total",
            "botrunner_lane_oldest_pending_age_seconds"} <= used
