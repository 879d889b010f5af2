"""A bounded load test: 200 concurrent RunTask calls against the four service processes.

Every call either completes or is refused at once with RESOURCE_EXHAUSTED and a google.rpc.RetryInfo; nothing else
goes wrong, and afterwards nothing is left in flight and the supervisor's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.launcher import ServiceLauncher, check_health
from tests.e2e.conftest import launch

pytestmark = pytest.mark.e2e

CALLS = 200
TASK = "Research the vector database market"
LOW_CAP = 20
# The teams' brief cap must not be the bottleneck of the high-cap run: a team's RESOURCE_EXHAUSTED would fail
# that team's run (and count against its breaker) instead of reaching the caller.
CAPS = {
    "high": {"MAX_CONCURRENT_WORKFLOWS": str(CALLS + 56), "MAX_CONCURRENT_BRIEFS": str(CALLS + 56)},
    "low": {"MAX_CONCURRENT_WORKFLOWS": str(LOW_CAP)},
}


@pytest.fixture(scope="module", params=list(CAPS))
def capped_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ServiceLauncher]]:
    """A stack with a 20 ms offline model and the workflow cap of the parameter."""
    name = request.param
    launcher = launch(
        tmp_path_factory.mktemp(f"load-{name}"),
        OFFLINE_LLM_LATENCY_MS="20",
        LOG_LEVEL="WARNING",
        DATA_DIR=str(tmp_path_factory.mktemp(f"load-{name}-data")),
        **CAPS[name],
    )
    yield name, launcher
    launcher.stop_all()


def retry_delay_ms(error: grpc.aio.AioRpcError) -> int | None:
    status = rpc_status.from_call(error)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToMilliseconds()
    return None


async def one_call(stub: supervisor_pb2_grpc.SupervisorServiceStub) -> str:
    """``completed``, ``rejected`` (RESOURCE_EXHAUSTED with RetryInfo) or a description of anything else."""
    try:
        response = await stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), timeout=90)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_delay_ms(exc) == 1000:
            return "rejected"
        return f"{exc.code().name}: {exc.details()}"
    workflow = response.workflow
    if workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED:
        return "completed"
    return f"{supervisor_pb2.WorkflowStatus.Name(workflow.status)}: {workflow.summary}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def gauge(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"{name} ")]
    assert len(values) == 1, f"{name} not in /metrics"
    return values[0]


async def test_two_hundred_concurrent_tasks_complete_or_are_refused_with_retry_info(capped_stack) -> None:
    name, stack = capped_stack
    supervisor = stack.processes["supervisor"]
    started = time.monotonic()
    async with grpc.aio.insecure_channel(supervisor.address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        async with asyncio.timeout(120):
            outcomes = Counter(await asyncio.gather(*(one_call(stub) for _ in range(CALLS))))
    elapsed = time.monotonic() - started
    assert sum(outcomes.values()) == CALLS
    assert set(outcomes) <= {"completed", "rejected"}, outcomes
    if name == "high":
        assert outcomes["completed"] == CALLS, outcomes
    else:
        assert outcomes["completed"] >= LOW_CAP and outcomes["rejected"] > 0, outcomes

    for _ in range(100):  # the last workflows finish their bookkeeping right after answering
        if gauge(supervisor.metrics_url, "marketing_workflows_in_flight") == 0:
            break
        await asyncio.sleep(0.1)
    assert gauge(supervisor.metrics_url, "marketing_workflows_in_flight") == 0
    assert rss_mb(supervisor.process.pid) < 500
    for process in stack.processes.values():
        assert check_health(process.address, timeout_s=5) == "SERVING", process.name
    print(
        f"{name} cap: {dict(outcomes)} in {elapsed:.1f}s, supervisor RSS {rss_mb(supervisor.process.pid):.0f} MB"
    )
