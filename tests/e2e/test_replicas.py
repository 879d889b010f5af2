"""Two replicas of a team behind one address list: the supervisor balances across them and survives losing one."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2 as S
from marketing.supervisor.v1 import supervisor_pb2_grpc

from common.launcher import SERVICES, ServiceLauncher, free_port
from tests.e2e.test_observability import scrape

BURST = 16
TASK = "Research the vector database market and competitors"
STREAM_BRIEF_OK = 'grpc_server_handled_total{grpc_code="OK",grpc_method="StreamBrief",grpc_service="marketing.team.v1.TeamService"}'


@pytest.fixture
def two_research_replicas(tmp_path: Path) -> Iterator[ServiceLauncher]:
    ports = {name: free_port() for name in SERVICES}
    second = free_port()
    launcher = ServiceLauncher(
        log_dir=tmp_path,
        ports=ports,
        metrics_ports={name: free_port() for name in SERVICES},
        env={
            "OFFLINE_LLM_LATENCY_MS": "100",
            "RESEARCH_ADDR": f"ipv4:127.0.0.1:{ports['research']},127.0.0.1:{second}",
            "BREAKER_FAIL_MAX": "50",
        },
    )
    try:
        launcher.start("research", instance="research-2", port=second, metrics_port=free_port())
        launcher.start_all(timeout_s=60)
        launcher.wait_serving(["research-2"], timeout_s=60)
        time.sleep(1.5)  # the supervisor's channel connects to both addresses
        yield launcher
    finally:
        launcher.stop_all()


async def burst(address: str, on_started=None) -> list[S.Workflow]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        calls = [stub.RunTask(S.RunTaskRequest(task=TASK), timeout=60) for _ in range(BURST)]
        if on_started is not None:
            await asyncio.sleep(0.6)
            on_started()
        return [response.workflow for response in await asyncio.gather(*calls)]


def test_a_burst_is_spread_over_both_replicas(two_research_replicas: ServiceLauncher) -> None:
    replicas = [two_research_replicas.processes[n] for n in ("research", "research-2")]
    workflows = asyncio.run(burst(two_research_replicas.processes["supervisor"].address))
    assert all(w.status == S.WORKFLOW_STATUS_COMPLETED for w in workflows)
    served = [scrape(r.metrics_url).get(STREAM_BRIEF_OK, 0) for r in replicas]
    assert sum(served) == BURST and min(served) >= BURST // 4, f"calls per replica: {served}"


def test_every_task_completes_when_a_replica_dies_mid_burst(two_research_replicas: ServiceLauncher) -> None:
    survivor = two_research_replicas.processes["research"]
    victim = two_research_replicas.processes["research-2"]
    workflows = asyncio.run(
        burst(
            two_research_replicas.processes["supervisor"].address,
            lambda: victim.process.send_signal(signal.SIGKILL),
        )
    )
    assert victim.process.wait(10) == -signal.SIGKILL
    assert [w.status for w in workflows] == [S.WORKFLOW_STATUS_COMPLETED] * BURST
    retried = [w for w in workflows if w.team_runs[0].attempts > 1]
    assert retried, "some calls were in flight on the killed replica and were retried on the survivor"
    assert scrape(survivor.metrics_url).get(STREAM_BRIEF_OK, 0) >= BURST // 2
