"""SubmitTask and WatchWorkflow on both queue backends (the records database and RabbitMQ), with fast fake teams."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2 as S

from tests.conftest import bad_request_fields
from tests.integration.queue_stack import (
    BACKENDS,
    ONE_TEAM_TASK,
    queue_settings,
    queue_stack,
    until,
    wait_finished,
)


@pytest.mark.parametrize("backend", [*BACKENDS, "rabbitmq-quorum"])
async def test_a_submitted_task_is_queued_at_once_runs_once_and_its_request_id_is_idempotent(
    backend: str,
) -> None:
    async with queue_settings(backend) as settings, queue_stack(settings) as stack:
        ACME, GLOBEX = await stack.tenant("acme"), await stack.tenant("globex")
        request = S.SubmitTaskRequest(task=ONE_TEAM_TASK, priority=S.PRIORITY_HIGH, request_id="order-1")
        first = await stack.stub.SubmitTask(request, metadata=ACME, timeout=10)
        again = await stack.stub.SubmitTask(request, metadata=ACME, timeout=10)
        other = await stack.stub.SubmitTask(request, metadata=GLOBEX, timeout=10)

        assert first.created and first.workflow.status == S.WORKFLOW_STATUS_QUEUED
        assert first.workflow.priority == S.PRIORITY_HIGH and first.workflow.request_id == "order-1"
        assert not again.created and again.workflow.id == first.workflow.id
        assert other.created and other.workflow.id != first.workflow.id  # request ids are per tenant

        finished = await wait_finished(stack.stub, ACME, [first.workflow.id])
        workflow = finished[first.workflow.id]
        assert workflow.status == S.WORKFLOW_STATUS_COMPLETED, workflow.summary
        assert workflow.deliveries == 1
        briefs = [w for w, tenant, _ in stack.teams["content"].started if tenant == "acme"]
        assert briefs == [first.workflow.id]  # ran once, as its tenant


@pytest.mark.parametrize("backend", ["embedded"])
async def test_bad_submissions_are_invalid_argument_with_field_violations(backend: str) -> None:
    async with queue_settings(backend) as settings, queue_stack(settings) as stack:
        ACME = await stack.tenant("acme")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.stub.SubmitTask(
                S.SubmitTaskRequest(
                    task=" ", priority=9, request_id="x" * 200, notify_url="https://example.com/h"
                ),
                metadata=ACME,
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = bad_request_fields(caught.value)
        assert set(fields) == {"task", "priority", "request_id", "notify_url"}
        assert "WEBHOOK_SECRET" in fields["notify_url"]


@pytest.mark.parametrize(
    ("backend", "redis_url"),
    [("embedded", None), ("embedded", "redis://127.0.0.1:6379/0"), ("rabbitmq", None)],
    ids=["embedded-polling", "embedded-redis", "rabbitmq-polling"],
)
async def test_a_watcher_that_reconnects_with_its_cursor_sees_every_event_once(
    backend: str, redis_url: str | None
) -> None:
    async with (
        queue_settings(backend, redis_url=redis_url, watch_poll_s=0.1) as settings,
        queue_stack(settings, delay_s=0.3) as stack,
    ):
        ACME, GLOBEX = await stack.tenant("acme"), await stack.tenant("globex")
        task = "Launch campaign: research competitors, write a blog article and LinkedIn posts"
        submitted = await stack.stub.SubmitTask(S.SubmitTaskRequest(task=task), metadata=ACME, timeout=10)
        workflow_id = submitted.workflow.id

        seen: list[tuple[str, S.StreamTaskResponse]] = []
        watch = stack.stub.WatchWorkflow(
            S.WatchWorkflowRequest(workflow_id=workflow_id), metadata=ACME, timeout=30
        )
        async for response in watch:
            seen.append((response.cursor, response.event))
            if len(seen) == 3:
                break  # the watcher goes away mid-workflow
        watch.cancel()
        await asyncio.sleep(0.5)
        async for response in stack.stub.WatchWorkflow(
            S.WatchWorkflowRequest(workflow_id=workflow_id, cursor=seen[-1][0]), metadata=ACME, timeout=30
        ):
            seen.append((response.cursor, response.event))

        replay = [
            (r.cursor, r.event)
            async for r in stack.stub.WatchWorkflow(
                S.WatchWorkflowRequest(workflow_id=workflow_id), metadata=ACME, timeout=30
            )
        ]
        assert seen == replay  # every event once, in order, across the reconnection
        assert [int(cursor) for cursor, _ in seen] == list(range(1, len(seen) + 1))
        assert seen[-1][1].HasField("done") and seen[-1][1].done.status == S.WORKFLOW_STATUS_COMPLETED
        assert sum(e.HasField("team_started") for _, e in seen) == 3

        with pytest.raises(grpc.aio.AioRpcError) as caught:  # another tenant's workflow does not exist
            async for _ in stack.stub.WatchWorkflow(
                S.WatchWorkflowRequest(workflow_id=workflow_id), metadata=GLOBEX, timeout=10
            ):
                pass
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_queued_task_can_be_cancelled_before_it_starts_and_is_not_resumed_by_hand(
    backend: str,
) -> None:
    gate = asyncio.Event()
    async with (
        queue_settings(backend, queue_capacity=1) as settings,
        queue_stack(settings, gate=gate) as stack,
    ):
        acme = await stack.tenant("acme")

        async def submit(n: int) -> str:
            request = S.SubmitTaskRequest(task=f"{ONE_TEAM_TASK} #{n}")
            return (await stack.stub.SubmitTask(request, metadata=acme, timeout=10)).workflow.id

        blocker = await submit(0)
        await until(lambda: bool(stack.teams["content"].started))  # it holds the one slot
        waiting, doomed = await submit(1), await submit(2)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.stub.ResumeWorkflow(S.ResumeWorkflowRequest(workflow_id=waiting), metadata=acme)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        cancelled = await stack.stub.CancelWorkflow(
            S.CancelWorkflowRequest(workflow_id=doomed), metadata=acme
        )
        assert cancelled.workflow.status == S.WORKFLOW_STATUS_CANCELLED

        gate.set()
        finished = await wait_finished(stack.stub, acme, [blocker, waiting, doomed])
        assert finished[waiting].status == S.WORKFLOW_STATUS_COMPLETED
        assert finished[doomed].status == S.WORKFLOW_STATUS_CANCELLED
        assert doomed not in stack.teams["content"].order()  # it never started
        events = [
            r.event
            async for r in stack.stub.WatchWorkflow(
                S.WatchWorkflowRequest(workflow_id=doomed), metadata=acme, timeout=10
            )
        ]
        assert [e.done.status for e in events] == [S.WORKFLOW_STATUS_CANCELLED]
