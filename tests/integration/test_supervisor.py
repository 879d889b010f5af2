"""The supervisor over real gRPC with in-process teams: routing, streaming, bad input, breakers and deadlines."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.launcher import free_port
from tests.conftest import bad_request_fields, start_supervisor, test_settings
from tests.integration.fakes import FaultyTeam, start_faulty_team

CAMPAIGN = (
    "Launch campaign for our open-source vector database: research competitors, write a blog article, "
    "and prepare LinkedIn and X posts"
)


async def run_task(channel: grpc.aio.Channel, task: str, deadline_s: float = 30) -> supervisor_pb2.Workflow:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
    return (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), timeout=deadline_s)).workflow


async def test_campaign_travels_through_all_three_teams(supervisor, channel_to) -> None:
    workflow = await run_task(channel_to(supervisor), CAMPAIGN)
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    assert [r.team for r in workflow.team_runs] == ["research", "content", "social"]
    assert [s.next for s in workflow.routing_steps] == ["research", "content", "social", "FINISH"]
    assert all(s.reasoning for s in workflow.routing_steps)
    assert all(s.decision_source == team_pb2.DECISION_SOURCE_MODEL for s in workflow.routing_steps)
    assert {a.team for a in workflow.artifacts} == {"research", "content", "social"}
    assert len({a.id for a in workflow.artifacts}) == len(workflow.artifacts)
    assert list(workflow.failed_teams) == []
    assert workflow.create_time.ToDatetime() <= workflow.complete_time.ToDatetime()
    for run in workflow.team_runs:
        assert run.status == supervisor_pb2.TEAM_RUN_STATUS_SUCCEEDED
        assert all(step.team == run.team for step in run.steps)


async def test_research_only_task_touches_no_other_team(supervisor, channel_to) -> None:
    workflow = await run_task(
        channel_to(supervisor), "Research the vector database market and its competitors"
    )
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    assert [r.team for r in workflow.team_runs] == ["research"]
    assert {a.team for a in workflow.artifacts} == {"research"}


async def test_stream_task_event_order(supervisor, channel_to) -> None:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(supervisor))
    events = [e async for e in stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=CAMPAIGN), timeout=30)]
    which = [e.WhichOneof("event") for e in events]
    assert which[0] == "routing_step" and which[1] == "team_started"
    assert which[-1] == "done" and which.count("done") == 1
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert len({e.workflow_id for e in events}) == 1
    started = [e.team_started.team for e in events if e.HasField("team_started")]
    finished = [e.team_finished.team for e in events if e.HasField("team_finished")]
    assert started == finished == ["research", "content", "social"]
    streamed = [e.artifact.id for e in events if e.HasField("artifact")]
    assert streamed == [a.id for a in events[-1].done.artifacts]
    # every team event sits between its team's start and finish
    for team in started:
        begin = next(
            i for i, e in enumerate(events) if e.HasField("team_started") and e.team_started.team == team
        )
        end = next(
            i for i, e in enumerate(events) if e.HasField("team_finished") and e.team_finished.team == team
        )
        inside = [e for e in events[begin:end] if e.HasField("artifact")]
        assert inside and all(e.artifact.team == team for e in inside)


@pytest.mark.parametrize(
    ("task", "description"),
    [
        ("", "empty"),
        ("   \n\t ", "whitespace"),
        ("a" * 20_001, "at most 20000"),
        ("launch\x07 now", "control"),
    ],
)
async def test_bad_tasks_are_rejected_with_field_details(supervisor, channel_to, task, description) -> None:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(supervisor))
    for call in (
        lambda: stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), timeout=5),
        lambda: _drain(stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=task), timeout=5)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = bad_request_fields(caught.value)
        assert list(fields) == ["task"]
        assert description in fields["task"]


async def _drain(call) -> list:
    return [event async for event in call]


async def test_task_of_exactly_the_maximum_length_is_accepted(supervisor, channel_to) -> None:
    task = ("research the market " * 1000)[:20_000]
    workflow = await run_task(channel_to(supervisor), task)
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    assert len(workflow.task) == 20_000


async def test_unknown_method_is_unimplemented(supervisor, channel_to) -> None:
    channel = channel_to(supervisor)
    method = channel.unary_unary("/marketing.supervisor.v1.SupervisorService/NoSuchMethod")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_unavailable_team_opens_its_breaker_and_then_is_not_called(team_servers, channel_to) -> None:
    settings = test_settings(breaker_fail_max=2, team_call_max_attempts=3)
    fake = FaultyTeam(grpc.StatusCode.UNAVAILABLE)
    fake_server = await start_faulty_team(settings, fake)
    addresses = {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()}
    addresses["social"] = f"127.0.0.1:{fake_server.port}"
    server, clients = await start_supervisor(settings, addresses)
    try:
        channel = channel_to(server)
        for expected_calls in (3, 6):
            workflow = await run_task(channel, CAMPAIGN)
            assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_PARTIAL
            assert list(workflow.failed_teams) == ["social"]
            social = workflow.team_runs[-1]
            assert (social.status, social.error_code, social.attempts) == (
                supervisor_pb2.TEAM_RUN_STATUS_FAILED, "UNAVAILABLE", 3,
            )  # fmt: skip
            assert fake.calls == expected_calls
            assert "social" in workflow.summary
        assert clients["social"].breaker.state == "open"
        workflow = await run_task(channel, CAMPAIGN)
        social = workflow.team_runs[-1]
        assert social.status == supervisor_pb2.TEAM_RUN_STATUS_CIRCUIT_OPEN and social.attempts == 0
        assert fake.calls == 6, "an open breaker must not call the team"
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_PARTIAL
        assert clients["research"].breaker.state == "closed"
    finally:
        await server.stop(0)
        await fake_server.stop(0)


async def test_caller_errors_do_not_open_the_breaker(team_servers, channel_to) -> None:
    settings = test_settings(breaker_fail_max=2)
    fake = FaultyTeam(grpc.StatusCode.INVALID_ARGUMENT)
    fake_server = await start_faulty_team(settings, fake)
    addresses = {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()}
    addresses["research"] = f"127.0.0.1:{fake_server.port}"
    server, clients = await start_supervisor(settings, addresses)
    try:
        for _ in range(3):
            workflow = await run_task(channel_to(server), "Research the vector database market")
            assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_FAILED
            assert workflow.team_runs[0].error_code == "INVALID_ARGUMENT"
            assert workflow.team_runs[0].attempts == 1, "caller errors are never retried"
        assert fake.calls == 3
        assert clients["research"].breaker.state == "closed"
    finally:
        await server.stop(0)
        await fake_server.stop(0)


async def test_a_team_that_is_down_gives_a_partial_result_within_the_deadline(
    team_servers, channel_to
) -> None:
    settings = test_settings()
    addresses = {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()}
    addresses["social"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    server, _ = await start_supervisor(settings, addresses)
    try:
        workflow = await run_task(channel_to(server), CAMPAIGN, deadline_s=10)
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_PARTIAL
        assert list(workflow.failed_teams) == ["social"]
        assert workflow.team_runs[-1].error_code == "UNAVAILABLE"
        assert {a.team for a in workflow.artifacts} == {"research", "content"}
    finally:
        await server.stop(0)


async def test_a_hanging_team_is_bounded_by_the_callers_deadline(team_servers, channel_to) -> None:
    settings = test_settings()
    fake = FaultyTeam(hang=True)
    fake_server = await start_faulty_team(settings, fake)
    addresses = {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()}
    addresses["social"] = f"127.0.0.1:{fake_server.port}"
    server, _ = await start_supervisor(settings, addresses)
    try:
        started = time.monotonic()
        workflow = await run_task(channel_to(server), CAMPAIGN, deadline_s=4)
        assert time.monotonic() - started < 4
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_PARTIAL
        assert workflow.team_runs[-1].team == "social"
        assert workflow.team_runs[-1].error_code == "DEADLINE_EXCEEDED"
        assert workflow.routing_steps[-1].next == "FINISH"
    finally:
        await server.stop(0)
        await fake_server.stop(0)


async def test_stream_task_streams_the_writers_text_but_run_task_does_not_ask(supervisor, channel_to) -> None:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(supervisor))
    task = "Write a blog article about vector search"
    events = [e async for e in stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=task), timeout=30)]
    deltas = [e.text_delta for e in events if e.HasField("text_delta")]
    article = next(a for a in events[-1].done.artifacts if a.agent == "writer")
    assert "".join(d.text for d in deltas if d.agent == "writer").strip() == article.content.strip()
    assert all(d.team == "content" for d in deltas)


async def test_list_tools_shows_every_teams_tools_and_what_is_off(supervisor, channel_to) -> None:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(supervisor))
    response = await stub.ListTools(supervisor_pb2.ListToolsRequest(), timeout=10)
    assert list(response.unavailable_teams) == []
    assert {t.team for t in response.tools} == {"research", "content", "social"}
    tools = {t.name: t for t in response.tools}
    kb = tools["search_knowledge_base"]
    assert kb.configured and kb.service == "" and kb.agents
    assert json.loads(kb.input_schema_json)["properties"]["query"]["type"] == "string"
    off = [t for t in response.tools if not t.configured]
    assert off, "with no external service configured some tools must be off"
    assert all(t.service and t.status for t in off)
    only = await stub.ListTools(supervisor_pb2.ListToolsRequest(team="social"), timeout=10)
    assert {t.team for t in only.tools} == {"social"}


async def test_list_tools_rejects_an_unknown_team(supervisor, channel_to) -> None:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(supervisor))
    with pytest.raises(grpc.RpcError) as caught:
        await stub.ListTools(supervisor_pb2.ListToolsRequest(team="marketing"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown team 'marketing'" in bad_request_fields(caught.value)["team"]


async def test_list_tools_names_a_team_that_does_not_answer(team_servers, channel_to) -> None:
    settings = test_settings()
    addresses = {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()} | {
        "social": f"127.0.0.1:{free_port()}"
    }
    server, _ = await start_supervisor(settings, addresses)
    try:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel_to(server))
        response = await stub.ListTools(supervisor_pb2.ListToolsRequest(), timeout=10)
        assert [(t.team, t.code) for t in response.unavailable_teams] == [("social", "UNAVAILABLE")]
        assert {t.team for t in response.tools} == {"research", "content"}
    finally:
        await server.stop(0)
