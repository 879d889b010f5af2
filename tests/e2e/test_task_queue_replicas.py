"""Two supervisor replicas as processes drain a mixed-priority burst from two tenants on each queue backend
(RabbitMQ in a virtual host of its own, or the PostgreSQL records database); one replica is killed with SIGKILL
in the middle of a task, which the other runs to its end, once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from statistics import mean

import asyncpg
import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2 as S
from marketing.supervisor.v1 import supervisor_pb2_grpc

from common.launcher import SERVICES, ServiceLauncher, free_port
from tests.conftest import Metadata, tenant_api_key, test_settings
from tests.e2e.test_durability import agent_completions

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CAMPAIGN = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"
ONE_TEAM_TASK = "Write a blog article about vector databases"
PRIORITIES = [S.PRIORITY_LOW, S.PRIORITY_NORMAL, S.PRIORITY_HIGH, S.PRIORITY_URGENT]


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def _admin(sql: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture(params=["rabbitmq", "embedded"])
def queue_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database, and a RabbitMQ virtual host for the rabbitmq backend."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name}")
    env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    if request.param == "rabbitmq":
        _rabbitmqctl("add_vhost", name)
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        env["BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:5672/{name}"
    try:
        yield env
    finally:
        if request.param == "rabbitmq":
            _rabbitmqctl("delete_vhost", name)
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def two_supervisors(
    tmp_path: Path, queue_env: dict[str, str]
) -> Iterator[tuple[ServiceLauncher, dict[str, Metadata]]]:
    settings = test_settings(database_url=queue_env["DATABASE_URL"], auth_disabled=False)
    keys = {tenant: asyncio.run(tenant_api_key(settings, tenant)) for tenant in ("acme", "globex")}
    launcher = ServiceLauncher(
        log_dir=tmp_path,
        ports={name: free_port() for name in SERVICES},
        metrics_ports={name: free_port() for name in SERVICES},
        env={
            **queue_env,
            "AUTH_DISABLED": "false",
            "OFFLINE_LLM_LATENCY_MS": "40",
            "WORKFLOW_HEARTBEAT_S": "0.5",
            "QUEUE_CAPACITY": "3",
            "QUEUE_LEASE_S": "3",
            "QUEUE_POLL_S": "0.1",
            "QUEUE_FAIR_BURST": "2",
            "SHUTDOWN_GRACE_S": "1",
        },
    )
    try:
        launcher.start("supervisor", instance="supervisor-2", port=free_port(), metrics_port=free_port())
        launcher.start_all(timeout_s=60)
        launcher.wait_serving(["supervisor-2"], timeout_s=60)
        yield launcher, keys
    finally:
        launcher.stop_all()


def _runner_of(launcher: ServiceLauncher, workflow_id: str) -> str:
    """The supervisor replica whose log shows it running the workflow."""
    for name in ("supervisor", "supervisor-2"):
        lines = launcher.processes[name].log_path.read_text().splitlines()
        if any(workflow_id in line and "workflow_resumed" in line for line in lines):  # run_to_end starts
            return name
    return ""


def _submit(
    stub: supervisor_pb2_grpc.SupervisorServiceStub, metadata: Metadata, task: str, priority: int
) -> str:
    return stub.SubmitTask(
        S.SubmitTaskRequest(task=task, priority=priority), metadata=metadata, timeout=10
    ).workflow.id


def _wait_all(
    stub: supervisor_pb2_grpc.SupervisorServiceStub, metadata: Metadata, ids: list[str]
) -> list[S.Workflow]:
    deadline = time.monotonic() + 120
    while True:
        workflows = [
            stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=i), metadata=metadata, timeout=10).workflow
            for i in ids
        ]
        waiting = [w for w in workflows if w.status in (S.WORKFLOW_STATUS_QUEUED, S.WORKFLOW_STATUS_RUNNING)]
        if not waiting:
            return workflows
        assert time.monotonic() < deadline, f"{len(waiting)} workflows did not finish"
        time.sleep(0.3)


def test_two_replicas_drain_a_burst_fairly_and_a_killed_replica_loses_nothing(
    two_supervisors: tuple[ServiceLauncher, dict[str, Metadata]],
) -> None:
    launcher, keys = two_supervisors
    survivor_address = {}
    with grpc.insecure_channel(launcher.processes["supervisor"].address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        campaign = _submit(stub, keys["acme"], CAMPAIGN, S.PRIORITY_URGENT)
        burst = {
            "acme": [
                _submit(stub, keys["acme"], f"{ONE_TEAM_TASK} #{n}", PRIORITIES[n % 4]) for n in range(24)
            ],
            "globex": [
                _submit(stub, keys["globex"], f"{ONE_TEAM_TASK} #{n}", PRIORITIES[n % 4]) for n in range(8)
            ],
        }
        for response in stub.WatchWorkflow(
            S.WatchWorkflowRequest(workflow_id=campaign), metadata=keys["acme"], timeout=60
        ):
            if response.event.HasField("agent_step") and response.event.agent_step.team == "content":
                break  # the campaign is inside the content team's call
        victim = _runner_of(launcher, campaign)
        assert victim, "neither replica logged the campaign"
        survivor = "supervisor-2" if victim == "supervisor" else "supervisor"
        survivor_address["address"] = launcher.processes[survivor].address
    launcher.stop(victim, signal.SIGKILL)

    with grpc.insecure_channel(survivor_address["address"]) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        [resumed] = _wait_all(stub, keys["acme"], [campaign])
        finished = {tenant: _wait_all(stub, keys[tenant], ids) for tenant, ids in burst.items()}

    assert resumed.status == S.WORKFLOW_STATUS_COMPLETED, resumed.summary
    assert [r.team for r in resumed.team_runs] == ["research", "content", "social"]
    assert resumed.deliveries == 2, "redelivered once, to the survivor"
    for team, workers in {"research": ["searcher", "analyst"], "content": ["writer", "seo_analyst"]}.items():
        completed = agent_completions(launcher.processes[team].log_path, campaign)
        # Every worker ran; at most the one step the kill interrupted before its checkpoint was written ran again
        # (the records keep it once).
        assert set(completed) == set(workers) and len(completed) <= len(workers) + 1, (team, completed)
    workflows = [w for tenant in finished.values() for w in tenant]
    assert {w.status for w in workflows} == {S.WORKFLOW_STATUS_COMPLETED}, "none lost"
    interrupted = [w for w in workflows if w.deliveries > 1]
    assert len(interrupted) < 3, (
        "only the tasks the killed replica was running were redelivered (QUEUE_CAPACITY=3)"
    )
    assert {w.deliveries for w in workflows} <= {1, 2}
    for workflow in workflows:
        assert [r.team for r in workflow.team_runs] == [
            "content"
        ]  # one team call recorded, redelivered or not
        completed = agent_completions(launcher.processes["content"].log_path, workflow.id)
        if workflow.deliveries == 1:
            assert completed and len(completed) == len(set(completed)), (
                workflow.id,
                completed,
            )  # none ran twice
        else:
            # Killed at an arbitrary point of the team call, the resumed call continues from the team's last
            # checkpoint: a worker step the kill interrupted before its checkpoint runs again (the records keep it
            # once).
            assert set(completed) == {"writer", "seo_analyst"}, (workflow.id, completed)
    done_at = {w.id: w.complete_time.ToNanoseconds() for w in workflows}
    # fair: the tenant that submitted after acme's burst does not finish last. A task the killed replica held waits
    # out its lease before it is redelivered, so only the tasks the kill did not delay show the scheduler's order.
    undelayed = {w.id for w in workflows if w.deliveries == 1}
    assert max(done_at[i] for i in burst["globex"] if i in undelayed) < max(
        done_at[i] for i in burst["acme"] if i in undelayed
    )
    by_priority = {p: mean(done_at[w.id] for w in workflows if w.priority == p) for p in PRIORITIES}
    assert by_priority[S.PRIORITY_URGENT] < by_priority[S.PRIORITY_LOW]
