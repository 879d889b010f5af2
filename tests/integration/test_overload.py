"""Overload protection, message size limits and breaker state in health, over real gRPC in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from marketing.research.v1 import research_pb2, research_pb2_grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc
from prometheus_client import REGISTRY

from common.agents.team_entry import TEAM_SERVICE_NAME
from common.config import Settings
from common.server import RunningServer, ServiceRegistration, start_server
from common.team_client import report_breakers_in_health
from tests.conftest import start_service, start_supervisor, test_settings
from tests.integration.fakes import FaultyTeam, start_faulty_team

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SOCIAL_TASK = "Prepare LinkedIn and X posts announcing our launch"


def retry_delay_ms(error: grpc.aio.AioRpcError) -> int:
    """The google.rpc.RetryInfo delay carried by a RESOURCE_EXHAUSTED error."""
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status in the trailers"
    infos = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert len(infos) == 1
    info = error_details_pb2.RetryInfo()
    infos[0].Unpack(info)
    return info.retry_delay.ToMilliseconds()


def handled(service: str, method: str, code: str) -> float:
    labels = {"grpc_service": service, "grpc_method": method, "grpc_code": code}
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


async def health_of(channel: grpc.aio.Channel, service: str = "") -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    return response.status


async def eventually(probe: Callable[[], object], expected: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value == expected or time.monotonic() > deadline:
            assert value == expected
            return
        await asyncio.sleep(0.02)


async def test_supervisor_rejects_workflows_beyond_its_cap_at_once(team_servers, channel_to) -> None:
    settings = test_settings(max_concurrent_workflows=2, overload_retry_after_s=2.5)
    hanging = FaultyTeam(hang=True)
    fake = await start_faulty_team(settings, hanging)
    addresses = {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()}
    addresses["research"] = f"127.0.0.1:{fake.port}"
    server, _ = await start_supervisor(settings, addresses)
    service = "marketing.supervisor.v1.SupervisorService"
    try:
        channel = channel_to(server)
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        task = "Research the vector database market"
        streams = [stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=task), timeout=20) for _ in range(2)]
        for stream in streams:
            await stream.read()  # the first event: the workflow holds its slot
        rejected_before = handled(service, "RunTask", "RESOURCE_EXHAUSTED")
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), timeout=10)
        assert time.monotonic() - started < 2, "the excess call is answered at once, not queued"
        assert retry_delay_ms(caught.value) == 2500
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await anext(aiter(stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=task), timeout=10)))
        assert retry_delay_ms(caught.value) == 2500
        await eventually(lambda: handled(service, "RunTask", "RESOURCE_EXHAUSTED"), rejected_before + 1)
        assert await health_of(channel) == SERVING, "health is never capped"
        assert hanging.calls == 2

        for stream in streams:
            stream.cancel()
        await eventually(lambda: REGISTRY.get_sample_value("marketing_workflows_in_flight"), 0.0)
        # Both slots are free again: two workflows are admitted (each fails fast on its short deadline).
        admitted = await asyncio.gather(
            *(stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), timeout=2) for _ in range(2))
        )
        assert all(r.workflow.status == supervisor_pb2.WORKFLOW_STATUS_FAILED for r in admitted)
        assert hanging.calls == 4
    finally:
        await server.stop(0)
        await fake.stop(0)


async def test_team_rejects_briefs_beyond_its_cap_but_not_its_tools(channel_to) -> None:
    from research_service.__main__ import build

    settings = test_settings(max_concurrent_briefs=1, offline_llm_latency_ms=200)
    server = await start_service("research", build, settings)
    try:
        channel = channel_to(server)
        stub = team_pb2_grpc.TeamServiceStub(channel)
        brief = team_pb2.Brief(workflow_id="wf-1", task="Research the vector database market")
        running = aiter(stub.StreamBrief(team_pb2.StreamBriefRequest(brief=brief), timeout=30))
        await anext(running)  # the brief is under way and holds the only slot
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunBrief(team_pb2.RunBriefRequest(brief=brief), timeout=10)
        assert retry_delay_ms(caught.value) == 1000
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await anext(aiter(stub.StreamBrief(team_pb2.StreamBriefRequest(brief=brief), timeout=10)))
        assert retry_delay_ms(caught.value) == 1000
        search = research_pb2_grpc.ResearchServiceStub(channel).SearchKnowledgeBase
        hits = await search(research_pb2.SearchKnowledgeBaseRequest(query="vector database"), timeout=5)
        assert hits.results, "the team's own tool service is not capped"
        assert await health_of(channel) == SERVING
        events = [event async for event in running]
        assert events[-1].HasField("result")
        # The finished stream released its slot.
        result = (await stub.RunBrief(team_pb2.RunBriefRequest(brief=brief), timeout=30)).result
        assert result.team == "research" and result.artifacts
    finally:
        await server.stop(0)


async def test_a_request_larger_than_the_message_limit_is_refused_and_the_server_keeps_serving(
    channel_to,
) -> None:
    limit = 64 * 1024
    settings = test_settings(grpc_max_message_bytes=limit)
    nowhere = {team: "127.0.0.1:1" for team in ("research", "content", "social")}
    server, _ = await start_supervisor(settings, nowhere)
    try:
        channel = channel_to(server)
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunTask(supervisor_pb2.RunTaskRequest(task="a" * (limit + 1)), timeout=5)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (caught.value.details() or "")
        assert await health_of(channel) == SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunTask(supervisor_pb2.RunTaskRequest(task=" "), timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, "the server still handles calls"
    finally:
        await server.stop(0)


class SwitchableTeam(team_pb2_grpc.TeamServiceServicer):
    """A TeamService that answers UNAVAILABLE while ``down`` and an empty result otherwise."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    async def StreamBrief(
        self, request: team_pb2.StreamBriefRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        self.calls += 1
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "fake team is down")
        yield team_pb2.StreamBriefResponse(result=team_pb2.BriefResult(team="social", summary="fake"))


async def start_team(settings: Settings, servicer: team_pb2_grpc.TeamServiceServicer) -> RunningServer:
    registration = ServiceRegistration(
        TEAM_SERVICE_NAME, lambda server: team_pb2_grpc.add_TeamServiceServicer_to_server(servicer, server)
    )
    return await start_server("fake", [registration], settings, port=0, host="127.0.0.1")


async def test_an_open_breaker_shows_in_the_supervisors_health_as_a_dependency(
    team_servers, channel_to
) -> None:
    reset_s = 3.0  # long enough that the breaker is still open for the third call on a loaded machine
    settings = test_settings(breaker_fail_max=2, team_call_max_attempts=1, breaker_reset_timeout_s=reset_s)
    social = SwitchableTeam()
    fake = await start_team(settings, social)
    addresses = {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()}
    addresses["social"] = f"127.0.0.1:{fake.port}"
    server, clients = await start_supervisor(settings, addresses)
    await report_breakers_in_health(server.health, clients)
    try:
        channel = channel_to(server)
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        dependencies = ("dependency.research", "dependency.content", "dependency.social")
        assert [await health_of(channel, d) for d in dependencies] == [SERVING] * 3

        for _ in range(2):
            workflow = (
                await stub.RunTask(supervisor_pb2.RunTaskRequest(task=SOCIAL_TASK), timeout=20)
            ).workflow
            assert "social" in workflow.failed_teams
        assert clients["social"].breaker.state == "open"
        await eventually(lambda: health_of(channel, "dependency.social"), NOT_SERVING)
        assert await health_of(channel) == SERVING, "the supervisor still answers, with partial results"
        assert await health_of(channel, "dependency.research") == SERVING
        assert await health_of(channel, "dependency.content") == SERVING
        workflow = (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=SOCIAL_TASK), timeout=20)).workflow
        assert workflow.team_runs[-1].status == supervisor_pb2.TEAM_RUN_STATUS_CIRCUIT_OPEN

        # The team recovers; after the reset timeout one trial call closes the breaker and health follows.
        social.down = False
        await asyncio.sleep(reset_s + 0.1)
        workflow = (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=SOCIAL_TASK), timeout=20)).workflow
        assert "social" not in workflow.failed_teams
        assert clients["social"].breaker.state == "closed"
        await eventually(lambda: health_of(channel, "dependency.social"), SERVING)
    finally:
        await server.stop(0)
        await fake.stop(0)
