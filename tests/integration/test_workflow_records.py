"""Workflow records over gRPC: GetWorkflow, ListWorkflows, CancelWorkflow, ResumeWorkflow, idempotent team calls."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.metrics import BRIEFS_IN_FLIGHT
from tests.conftest import bad_request_fields, start_service, start_supervisor, test_settings

S = supervisor_pb2


async def run(stub, task: str) -> S.Workflow:
    return (await stub.RunTask(S.RunTaskRequest(task=task), timeout=30)).workflow


async def test_get_workflow_returns_it_with_every_agent_execution_once(supervisor, channel_to) -> None:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(supervisor))
    workflow = await run(
        stub, "Launch campaign for our vector database with a blog article and LinkedIn posts"
    )
    answer = await stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=workflow.id))
    assert answer.workflow == workflow
    executions = answer.agent_executions
    expected = [(r.team, s.index, s.agent) for r in workflow.team_runs for s in r.steps]
    assert [(e.team, e.step_index, e.agent) for e in executions] == expected
    work = [e for e in executions if e.kind == "work"]
    assert work and all(e.success and e.output and '"task"' in e.input for e in work)
    assert sum(e.usage.input_tokens for e in executions) == sum(
        r.usage.input_tokens for r in workflow.team_runs
    )


async def test_get_workflow_rejects_bad_ids_and_reports_unknown_ones(supervisor, channel_to) -> None:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(supervisor))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=str(uuid.uuid4())))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    for bad in ("", "not-a-uuid", "'; DROP TABLE workflows; --", "x" * 5000):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=bad))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "workflow_id" in bad_request_fields(caught.value)


async def test_list_workflows_pages_newest_first(channel_to) -> None:
    settings = test_settings()
    server, _ = await start_supervisor(
        settings, {t: "127.0.0.1:1" for t in ("research", "content", "social")}
    )
    try:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(server))
        ids = [(await run(stub, f"Research topic number {n}")).id for n in range(5)]
        seen, token = [], ""
        while True:
            page = await stub.ListWorkflows(S.ListWorkflowsRequest(page_size=2, page_token=token))
            assert len(page.workflows) <= 2
            seen += [w.id for w in page.workflows]
            token = page.next_page_token
            if not token:
                break
        assert seen == ids[::-1]
        failed = await stub.ListWorkflows(S.ListWorkflowsRequest(status=S.WORKFLOW_STATUS_FAILED))
        assert [w.id for w in failed.workflows] == ids[::-1], "every team was unreachable, so all failed"
        none = await stub.ListWorkflows(S.ListWorkflowsRequest(status=S.WORKFLOW_STATUS_COMPLETED))
        assert list(none.workflows) == [] and none.next_page_token == ""
        for request, field in [
            (S.ListWorkflowsRequest(page_size=101), "page_size"),
            (S.ListWorkflowsRequest(page_size=-1), "page_size"),
            (S.ListWorkflowsRequest(page_token="garbage!"), "page_token"),
            (S.ListWorkflowsRequest(status=99), "status"),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ListWorkflows(request)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in bad_request_fields(caught.value)
    finally:
        await server.stop(0)


async def test_cancel_stops_a_running_workflow_and_records_it(channel_to) -> None:
    from content_service.__main__ import build as build_content

    settings = test_settings(offline_llm_latency_ms=200)
    content = await start_service("content", build_content, settings)
    addresses = {"research": "127.0.0.1:1", "content": f"127.0.0.1:{content.port}", "social": "127.0.0.1:1"}
    server, _ = await start_supervisor(settings, addresses)
    try:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(server))
        stream = stub.StreamTask(
            S.StreamTaskRequest(task="Write a blog article about embeddings"), timeout=30
        )
        workflow_id = ""
        async for event in stream:
            workflow_id = event.workflow_id
            if event.HasField("team_started"):
                break
        cancelled = await stub.CancelWorkflow(S.CancelWorkflowRequest(workflow_id=workflow_id))
        assert cancelled.workflow.status == S.WORKFLOW_STATUS_CANCELLED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stream:
                pass
        assert caught.value.code() == grpc.StatusCode.CANCELLED
        stored = await stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=workflow_id))
        assert stored.workflow.status == S.WORKFLOW_STATUS_CANCELLED
        again = await stub.CancelWorkflow(S.CancelWorkflowRequest(workflow_id=workflow_id))
        assert again.workflow == stored.workflow, "cancelling a finished workflow changes nothing"
        resumed = await stub.ResumeWorkflow(S.ResumeWorkflowRequest(workflow_id=workflow_id))
        assert resumed.workflow.status == S.WORKFLOW_STATUS_CANCELLED
        for _ in range(40):  # the team's in-flight brief was cancelled with the workflow
            if BRIEFS_IN_FLIGHT.labels(team="content")._value.get() == 0:
                break
            await asyncio.sleep(0.05)
        assert BRIEFS_IN_FLIGHT.labels(team="content")._value.get() == 0
    finally:
        await server.stop(0)
        await content.stop(0)


async def test_team_calls_with_the_same_key_run_once(team_servers, channel_to) -> None:
    stub = team_pb2_grpc.TeamServiceStub(channel_to(team_servers["content"]))
    brief = team_pb2.Brief(workflow_id="wf-1", task="Write a blog article about embeddings")
    key = f"{uuid.uuid4()}/content/2"
    first = (await stub.RunBrief(team_pb2.RunBriefRequest(brief=brief, idempotency_key=key))).result
    second = (await stub.RunBrief(team_pb2.RunBriefRequest(brief=brief, idempotency_key=key))).result
    streamed = [
        e async for e in stub.StreamBrief(team_pb2.StreamBriefRequest(brief=brief, idempotency_key=key))
    ]
    assert not first.replayed and second.replayed and streamed[-1].result.replayed
    assert len(streamed) == 1, "a replay runs no agent, so there are no step events"
    for replay in (second, streamed[-1].result):
        replay.replayed = False
        assert replay == first
    other = (await stub.RunBrief(team_pb2.RunBriefRequest(brief=brief, idempotency_key=key + "x"))).result
    assert not other.replayed and other.usage.model_calls == first.usage.model_calls
