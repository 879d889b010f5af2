"""docker-compose.yml and the Prometheus config agree with the services' defaults and are valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from common.config import load_settings
from common.launcher import DEFAULT_METRICS_PORTS, DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("supervisor", "research", "content", "social")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_runs_its_module_and_probes_its_own_port() -> None:
    services = compose()["services"]
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["python", "-m", f"{name}_service"]
        assert f"127.0.0.1:{DEFAULT_PORTS[name]}" in service["healthcheck"]["test"]
        assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
    supervisor = services["supervisor"]
    settings = load_settings()
    for team in ("research", "content", "social"):
        assert supervisor["environment"][f"{team.upper()}_ADDR"] == f"{team}:{DEFAULT_PORTS[team]}"
        assert supervisor["depends_on"][team] == {"condition": "service_healthy"}
        assert settings.port_of(team) == DEFAULT_PORTS[team]


def test_prometheus_scrapes_every_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {name: [f"{name}:{DEFAULT_METRICS_PORTS[name]}"] for name in SERVICES}
    assert {name: load_settings().metrics_port_of(name) for name in SERVICES} == DEFAULT_METRICS_PORTS


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config_is_valid() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
