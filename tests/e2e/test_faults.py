"""Faults with real processes: a team killed mid-run, its breaker opening and recovering, graceful drain."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.launcher import ServiceLauncher, check_health
from tests.e2e.conftest import launch

CAMPAIGN = "Launch campaign for our vector database: research, a blog article, LinkedIn and X posts"
RESET_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceLauncher]:
    """A stack whose offline model takes 100 ms a call, so that work is in flight long enough to interrupt."""
    launcher = launch(
        tmp_path_factory.mktemp("fault-logs"),
        OFFLINE_LLM_LATENCY_MS="100",
        BREAKER_FAIL_MAX="2",
        BREAKER_RESET_TIMEOUT_S=str(RESET_TIMEOUT_S),
        TEAM_RETRY_BACKOFF_S="0.05",
        SHUTDOWN_GRACE_S="10",
    )
    yield launcher
    launcher.stop_all()


def supervisor_stub(stack: ServiceLauncher) -> tuple[grpc.Channel, supervisor_pb2_grpc.SupervisorServiceStub]:
    channel = grpc.insecure_channel(stack.processes["supervisor"].address)
    return channel, supervisor_pb2_grpc.SupervisorServiceStub(channel)


def social_run(workflow: supervisor_pb2.Workflow) -> supervisor_pb2.TeamRun:
    return next(r for r in workflow.team_runs if r.team == "social")


def test_team_killed_mid_run_then_breaker_opens_and_recovers(slow_stack: ServiceLauncher) -> None:
    channel, stub = supervisor_stub(slow_stack)
    with channel:
        # 1. Kill the social service while it is working on the brief.
        killed = False
        done = None
        for event in stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=CAMPAIGN), timeout=60):
            if not killed and event.HasField("agent_step") and event.agent_step.team == "social":
                slow_stack.processes["social"].process.send_signal(signal.SIGKILL)
                killed = True
            if event.HasField("done"):
                done = event.done
        assert killed and done is not None
        assert done.status == supervisor_pb2.WORKFLOW_STATUS_PARTIAL
        assert list(done.failed_teams) == ["social"]
        assert social_run(done).error_code == "UNAVAILABLE"
        assert social_run(done).attempts == 3, (
            "an idempotent call is retried after a partial answer, up to the cap"
        )
        assert {a.team for a in done.artifacts} == {"research", "content"}

        # 2. Still down: the second failure opens the breaker (BREAKER_FAIL_MAX=2).
        workflow = stub.RunTask(supervisor_pb2.RunTaskRequest(task=CAMPAIGN), timeout=60).workflow
        assert social_run(workflow).status == supervisor_pb2.TEAM_RUN_STATUS_FAILED
        assert social_run(workflow).attempts == 3
        opened_at = time.monotonic()

        # 3. Open: the team is not called at all.
        workflow = stub.RunTask(supervisor_pb2.RunTaskRequest(task=CAMPAIGN), timeout=60).workflow
        run = social_run(workflow)
        assert run.status == supervisor_pb2.TEAM_RUN_STATUS_CIRCUIT_OPEN
        assert run.attempts == 0
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_PARTIAL

        # 4. The team comes back; after the reset timeout one trial call closes the breaker.
        slow_stack.processes.pop("social")
        slow_stack.start("social")
        slow_stack.wait_serving(["social"], timeout_s=60)
        time.sleep(max(0.0, RESET_TIMEOUT_S - (time.monotonic() - opened_at)) + 0.2)
        workflow = stub.RunTask(supervisor_pb2.RunTaskRequest(task=CAMPAIGN), timeout=60).workflow
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
        assert social_run(workflow).status == supervisor_pb2.TEAM_RUN_STATUS_SUCCEEDED


def test_sigterm_drains_an_in_flight_team_call(slow_stack: ServiceLauncher) -> None:
    channel, stub = supervisor_stub(slow_stack)
    research = slow_stack.processes["research"]
    with channel:
        done = None
        signalled = False
        task = "Research the vector database market and competitors"
        for event in stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=task), timeout=60):
            if not signalled and event.HasField("agent_step") and event.agent_step.team == "research":
                research.process.send_signal(signal.SIGTERM)
                signalled = True
            if event.HasField("done"):
                done = event.done
    assert signalled and done is not None
    assert done.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, (
        "the in-flight call finished during the drain"
    )
    assert research.process.wait(15) == 0
    assert check_health(research.address) == "UNAVAILABLE"
    log = Path(research.log_path).read_text()
    assert "server_stopping" in log and "server_stopped" in log
    slow_stack.processes.pop("research")
    slow_stack.start("research")
    slow_stack.wait_serving(["research"], timeout_s=60)
