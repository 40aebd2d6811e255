"""The alert rules: promtool accepts them, and its rule unit tests (rules_test.yml) fire each alert."""
from __future__ import annotations

import re
from pathlib import Path

from tests.metrics.conftest import run_promtool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "systemd" / "prometheus-rules.yml"
GUIDE_ALERTS = {"HighCacheMissRate", "SlowStartCommand", "RedisConnectionLost", "MongoDBPoolExhaustion"}
PIPELINE_ALERTS = {"PollStalled", "LaneLagHigh", "DeadLettersRising", "FloodFreezes", "WorkerRestarts"}


def alerts() -> set[str]:
    return set(re.findall(r"^\s*- alert: (\w+)\s*$", RULES.read_text(), re.MULTILINE))


def test_promtool_check_rules_accepts_the_rules(promtool):
    checked = run_promtool(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_guides_four_alerts_and_the_pipeline_ones_exist():
    assert GUIDE_ALERTS | PIPELINE_ALERTS <= alerts()


def test_promtool_rule_unit_tests_pass(promtool):
    tested = run_promtool(promtool, "test", "rules", str(Path(__file__).with_name("rules_test.yml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_metric_the_rules_use_is_one_botrunner_defines():
    from tests.metrics.test_definitions import exposed_names
    used = set(re.findall(r"\bbotrunner_[a-z0-9_]+", RULES.read_text()))
    assert used, "the rules name no metric"
    assert used <= exposed_names(), used - exposed_names()
