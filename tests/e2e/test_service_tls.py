"""Service TLS with every service as its own process: a task over mutual TLS (the launcher's and the health check
CLI's TLS health checks, the CLI, grpcurl), and the services that refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.launcher import ServiceLauncher, free_port
from common.teams import TEAMS
from common.tls import TlsFiles
from tests.e2e.conftest import grpcurl, launch

ROOT = Path(__file__).resolve().parents[2]
TLS_VARIABLES = ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")


def tls_environment(tls: TlsFiles) -> dict[str, str]:
    return dict(zip(TLS_VARIABLES, (str(tls.cert_file), str(tls.key_file), str(tls.ca_file)), strict=True))


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without TLS or bind settings, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("TLS_", "BIND_HOST"))}
    return {**env, **variables}


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory, service_tls: TlsFiles) -> Iterator[ServiceLauncher]:
    """The four services with mutual TLS; ``launch`` waits for them with TLS health checks."""
    launcher = launch(tmp_path_factory.mktemp("tls-stack"), **tls_environment(service_tls))
    assert launcher.tls == TlsFiles(service_tls.cert_file, service_tls.key_file, service_tls.ca_file)
    yield launcher
    launcher.stop_all()


def test_the_health_check_cli_speaks_mutual_tls(tls_stack: ServiceLauncher, service_tls: TlsFiles) -> None:
    addresses = [process.address for process in tls_stack.processes.values()]
    checked = run("common.healthcheck", *addresses, env=clean_environment(**tls_environment(service_tls)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": SERVING") == len(TEAMS.services())
    plaintext = run("common.healthcheck", addresses[0], env=clean_environment())
    assert plaintext.returncode == 1 and "UNAVAILABLE" in plaintext.stdout


def test_the_cli_runs_a_campaign_over_mutual_tls(tls_stack: ServiceLauncher, service_tls: TlsFiles) -> None:
    task = "Launch campaign for our open-source vector database with a blog article and LinkedIn posts"
    flags = ["--cert", str(service_tls.cert_file), "--key", str(service_tls.key_file)]
    flags += ["--cacert", str(service_tls.ca_file)]
    address = tls_stack.processes[TEAMS.supervisor.name].address
    result = run("supervisor_service.cli", "run", task, "--addr", address, *flags, env=clean_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": COMPLETED" in result.stdout
    for team in TEAMS.names:
        assert f"  {team}: SUCCEEDED" in result.stdout
    without = run(
        "supervisor_service.cli", "tools", "--addr", address, "--timeout", "5", env=clean_environment()
    )
    assert without.returncode == 1 and "UNAVAILABLE" in without.stderr


def test_grpcurl_needs_the_client_certificate(tls_stack: ServiceLauncher, service_tls: TlsFiles) -> None:
    address = tls_stack.processes[TEAMS.names[0]].address
    files = ["-cacert", str(service_tls.ca_file), "-cert", str(service_tls.cert_file)]
    files += ["-key", str(service_tls.key_file)]
    listed = grpcurl(*files, address, "list")
    assert listed.returncode == 0, listed.stderr
    assert "marketing.team.v1.TeamService" in listed.stdout.split()
    refused = grpcurl("-connect-timeout", "2", "-plaintext", address, "list")
    assert refused.returncode != 0 and "TeamService" not in refused.stdout
    refused = grpcurl("-connect-timeout", "2", "-cacert", str(service_tls.ca_file), address, "list")
    assert refused.returncode != 0 and "TeamService" not in refused.stdout, "no client certificate"


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"BIND_HOST": "0.0.0.0"}, ("BIND_HOST=0.0.0.0", *TLS_VARIABLES)),
        ({"TLS_CERT_FILE": "{cert}"}, ("TLS_KEY_FILE, TLS_CA_FILE are missing",)),
    ],
    ids=["beyond-loopback-without-tls", "partial-tls"],
)
def test_a_service_refuses_to_start_naming_the_variables(
    service_tls: TlsFiles, variables: dict[str, str], named: tuple[str, ...]
) -> None:
    team = TEAMS.team(TEAMS.names[0])
    values = {name: value.format(cert=service_tls.cert_file) for name, value in variables.items()}
    env = clean_environment(**values, **{team.port_variable: str(free_port())}, METRICS_PORT="0")
    result = run(team.package, env=env, timeout=30)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for name in named:
        assert name in message
