"""The Prometheus alert rules in deploy/ (issue 16): valid (`promtool check rules`), their unit tests pass
(`promtool test rules`), every metric they use is one the services export, and Prometheus loads them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from common import metrics
from gateway_service import metrics as gateway_metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (.ci/run installs it)"
)


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    done = subprocess.run(
        [PROMTOOL, "check", "rules", "alerts.yml"], cwd=DEPLOY, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


@needs_promtool
def test_the_rules_unit_tests_pass() -> None:
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts.test.yml"], cwd=DEPLOY, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_unit_test_and_uses_exported_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "TenantSpendRateHigh", "TenantQuotaAbove80Percent", "ErrorRatioHigh", "GatewayErrorRatioHigh",
        "CircuitBreakerOpen", "TaskLatencyP95High",
    }  # fmt: skip
    tests = yaml.safe_load((DEPLOY / "alerts.test.yml").read_text())
    tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])}
    assert tested == set(alerts)
    exported = {
        name
        for module in (metrics, gateway_metrics)
        for collector in vars(module).values()
        if hasattr(collector, "_name")
        for name in (collector._name, f"{collector._name}_total", f"{collector._name}_bucket")
    }
    for alert, expr in alerts.items():
        used = set(re.findall(r"\b(marketing_[a-z_]+|grpc_server_[a-z_]+|http_server_[a-z_]+)\b", expr))
        assert used and used <= exported, f"{alert} uses metrics no service exports: {used - exported}"


def test_prometheus_loads_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    compose = (DEPLOY.parent / "docker-compose.yml").read_text()
    assert "./deploy/alerts.yml:/etc/prometheus/alerts.yml:ro" in compose
