"""Issue 17's process test: with SOCIAL_PUBLISH=live and the default policy, a campaign stops at a review; the
supervisor and the social service are killed with SIGKILL while it waits and restarted; approving with an edited
post completes the workflow, X receives exactly the approved text once, and no agent step ran twice (PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2_grpc
from marketing.supervisor.v1 import supervisor_pb2 as S

from common.launcher import ServiceLauncher
from tests.e2e.conftest import launch
from tests.fakes.social_apis import X_TOKEN, FakeX

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TASK = "Prepare an X post announcing the open-source release of our vector database"


def admin(sql: str, database: str = "postgres", *args: object) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
        try:
            await connection.execute(sql, *args)
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture
def live_stack(tmp_path: Path) -> Iterator[tuple[ServiceLauncher, FakeX, str]]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin(f"CREATE DATABASE {name}")
    x = FakeX().start()
    launcher = launch(
        tmp_path / "logs",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{name}",
        DATA_DIR=str(tmp_path / "data"),
        SOCIAL_PUBLISH="live",
        X_API_URL=x.url,
        X_BEARER_TOKEN=X_TOKEN,
        PUBLISHER_POLL_S="0.3",
        WORKFLOW_HEARTBEAT_S="0.5",
        SHUTDOWN_GRACE_S="1",
    )
    try:
        yield launcher, x, name
    finally:
        launcher.stop_all()
        x.stop()
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def completions(log_path: Path, workflow_id: str) -> list[str]:
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    return [
        line["agent"]
        for line in lines
        if line.get("event") == "agent_completed" and line.get("workflow_id") == workflow_id
    ]


def wait_until(check: object, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_review_survives_sigkill_and_only_the_approved_text_is_published(
    live_stack: tuple[ServiceLauncher, FakeX, str],
) -> None:
    stack, x, database = live_stack
    with grpc.insecure_channel(stack.processes["supervisor"].address) as channel:
        paused = (
            supervisor_pb2_grpc.SupervisorServiceStub(channel)
            .RunTask(S.RunTaskRequest(task=TASK), timeout=60)
            .workflow
        )
    assert paused.status == S.WORKFLOW_STATUS_AWAITING_REVIEW, paused.summary
    assert x.posts == {}

    for name in ("supervisor", "social"):
        stack.stop(name, signal.SIGKILL)
    for name in ("social", "supervisor"):
        stack.start(name)
    stack.wait_serving(["social", "supervisor"], timeout_s=60)
    time.sleep(1.0)  # several publisher polls: nothing unapproved goes out
    assert x.posts == {}

    with grpc.insecure_channel(stack.processes["supervisor"].address) as channel:
        reviews = review_pb2_grpc.ReviewServiceStub(channel)
        review = reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id), timeout=10).review
        assert [v.item.platform for v in review.items] == ["x"]
        edited = "Our vector database is open source today. Fast, simple, yours. #opensource"
        edit = review_pb2.ItemEdit(artifact_id=review.items[0].item.artifact_id, text=edited)
        approved = reviews.ApproveReview(
            review_pb2.ApproveReviewRequest(review_id=review.id, edits=[edit]), timeout=10
        ).review
        assert approved.status == review_pb2.REVIEW_STATUS_APPROVED
        tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)

        def finished() -> bool:
            status = tasks.GetWorkflow(S.GetWorkflowRequest(workflow_id=paused.id), timeout=5).workflow.status
            return status == S.WORKFLOW_STATUS_COMPLETED

        wait_until(finished)
        workflow = tasks.GetWorkflow(S.GetWorkflowRequest(workflow_id=paused.id), timeout=5)
    posts = [a.content for a in workflow.workflow.artifacts if a.kind == 5]
    assert posts == [edited]
    executions = [(e.team, e.step_index) for e in workflow.agent_executions]
    assert len(executions) == len(set(executions))

    admin(
        "UPDATE scheduled_posts SET scheduled_at = now() - interval '1 second' WHERE workflow_id = $1",
        database,
        paused.id,
    )
    wait_until(lambda: len(x.posts) == 1, timeout_s=30)
    time.sleep(1.0)
    assert list(x.posts.values()) == [edited]
    assert sorted(completions(stack.processes["social"].log_path, paused.id)) == ["post_drafter", "scheduler"]
