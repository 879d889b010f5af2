"""Cancelling a workflow cancels its scheduled social posts: a cancelled workflow publishes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from marketing.social.v1 import social_pb2, social_pb2_grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.launcher import free_port
from common.server import RunningServer
from social_service.__main__ import build as build_social
from tests.conftest import bad_request_fields, start_service, start_supervisor, start_teams, test_settings

TASK = "Draft a LinkedIn post announcing our v2 release"
TWO_PLATFORMS_TASK = "Announce our v2 release on LinkedIn and X"


async def first_scheduled_post(social: social_pb2_grpc.SocialServiceStub) -> social_pb2.ScheduledPost:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        posts = (await social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(), timeout=5)).posts
        if posts:
            return posts[0]
        await asyncio.sleep(0.02)
    raise AssertionError("the social team scheduled nothing")


async def test_cancelling_a_workflow_cancels_the_posts_it_scheduled() -> None:
    # Slow model calls leave the scheduler's final answer and two routing decisions after the posts are stored.
    settings = test_settings(offline_llm_latency_ms=250)
    teams = await start_teams(settings)
    supervisor, _ = await start_supervisor(settings, {t: f"127.0.0.1:{s.port}" for t, s in teams.items()})
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.port}") as to_supervisor,
            grpc.aio.insecure_channel(f"127.0.0.1:{teams['social'].port}") as to_social,
        ):
            stub = supervisor_pb2_grpc.SupervisorServiceStub(to_supervisor)
            social = social_pb2_grpc.SocialServiceStub(to_social)
            running = asyncio.ensure_future(
                stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), timeout=30)
            )
            post = await first_scheduled_post(social)
            assert post.status == social_pb2.SCHEDULED_POST_STATUS_SCHEDULED
            answer = await stub.CancelWorkflow(
                supervisor_pb2.CancelWorkflowRequest(workflow_id=post.workflow_id), timeout=10
            )
            assert answer.workflow.status == supervisor_pb2.WORKFLOW_STATUS_CANCELLED
            assert list(answer.cancelled_post_ids) == [post.id] and not answer.scheduled_posts_error
            (after,) = (
                await social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(), timeout=5)
            ).posts
            assert after.status == social_pb2.SCHEDULED_POST_STATUS_CANCELLED
            again = await stub.CancelWorkflow(
                supervisor_pb2.CancelWorkflowRequest(workflow_id=post.workflow_id), timeout=10
            )
            assert list(again.cancelled_post_ids) == [], "cancelling again finds nothing left to cancel"
            try:
                await running
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.CANCELLED
    finally:
        for server in (supervisor, *teams.values()):
            await server.stop(0)


async def test_a_caller_that_goes_away_leaves_no_post_scheduled() -> None:
    settings = test_settings(offline_llm_latency_ms=250)
    teams = await start_teams(settings)
    supervisor, _ = await start_supervisor(settings, {t: f"127.0.0.1:{s.port}" for t, s in teams.items()})
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.port}") as to_supervisor,
            grpc.aio.insecure_channel(f"127.0.0.1:{teams['social'].port}") as to_social,
        ):
            stub = supervisor_pb2_grpc.SupervisorServiceStub(to_supervisor)
            social = social_pb2_grpc.SocialServiceStub(to_social)
            call = stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), timeout=30)
            running = asyncio.ensure_future(call)
            post = await first_scheduled_post(social)
            running.cancel()  # the caller goes away
            deadline = time.monotonic() + 10
            while True:
                (after,) = (
                    await social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(), timeout=5)
                ).posts
                if after.status != social_pb2.SCHEDULED_POST_STATUS_SCHEDULED or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert after.id == post.id and after.status == social_pb2.SCHEDULED_POST_STATUS_CANCELLED
            workflow = (
                await stub.GetWorkflow(
                    supervisor_pb2.GetWorkflowRequest(workflow_id=post.workflow_id), timeout=5
                )
            ).workflow
            assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_CANCELLED
    finally:
        for server in (supervisor, *teams.values()):
            await server.stop(0)


async def _cancel_after_routing(stub: supervisor_pb2_grpc.SupervisorServiceStub, task: str, team: str):  # type: ignore[no-untyped-def]
    """Start a task, cancel it once the supervisor has routed it to ``team``; the CancelWorkflow answer."""
    stream = stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=task))
    workflow_id = ""
    async for event in stream:
        workflow_id = event.workflow_id
        if event.HasField("routing_step") and event.routing_step.next == team:
            break
    answer = await stub.CancelWorkflow(
        supervisor_pb2.CancelWorkflowRequest(workflow_id=workflow_id), timeout=10
    )
    stream.cancel()
    return answer


@pytest.mark.parametrize(
    ("task", "team", "asks_social"),
    [
        ("Draft LinkedIn posts announcing our release", "social", True),
        ("Research the vector database market", "research", False),
    ],
)
async def test_cancelling_asks_only_the_teams_the_workflow_used(
    team_servers, task: str, team: str, asks_social: bool
) -> None:
    """Social is down: a workflow routed to it reports that its posts could not be cancelled; one that never
    reached social does not ask it."""
    settings = test_settings(offline_llm_latency_ms=300)
    addresses = {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()} | {
        "social": f"127.0.0.1:{free_port()}"
    }
    supervisor, _ = await start_supervisor(settings, addresses)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.port}") as channel:
            answer = await _cancel_after_routing(
                supervisor_pb2_grpc.SupervisorServiceStub(channel), task, team
            )
        assert answer.workflow.status == supervisor_pb2.WORKFLOW_STATUS_CANCELLED
        if asks_social:
            assert answer.scheduled_posts_error.startswith("social: UNAVAILABLE"), (
                answer.scheduled_posts_error
            )
        else:
            assert answer.scheduled_posts_error == "" and list(answer.cancelled_post_ids) == []
    finally:
        await supervisor.stop(0)


async def test_cancel_workflow_posts_validates_the_workflow_id(team_servers) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{team_servers['social'].port}") as channel:
        social = social_pb2_grpc.SocialServiceStub(channel)
        try:
            await social.CancelWorkflowPosts(
                social_pb2.CancelWorkflowPostsRequest(workflow_id=" "), timeout=5
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "workflow_id" in bad_request_fields(exc)
        else:
            raise AssertionError("a blank workflow id must be refused")
        nothing = await social.CancelWorkflowPosts(
            social_pb2.CancelWorkflowPostsRequest(workflow_id="no-such-workflow"), timeout=5
        )
        assert list(nothing.posts) == []


@pytest.fixture(scope="module")
async def social_alone() -> AsyncIterator[RunningServer]:
    """The social service on its own, in-process (its posts come from its own team runs)."""
    server = await start_service("social", build_social, test_settings())
    yield server
    await server.stop(0)


async def test_team_service_cancel_workflow_cancels_the_social_teams_posts(social_alone) -> None:
    workflow_id = str(uuid.uuid4())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{social_alone.port}") as channel:
        team = team_pb2_grpc.TeamServiceStub(channel)
        social = social_pb2_grpc.SocialServiceStub(channel)
        brief = team_pb2.Brief(workflow_id=workflow_id, task=TWO_PLATFORMS_TASK)
        await team.RunBrief(team_pb2.RunBriefRequest(brief=brief), timeout=20)
        listed = social_pb2.ListScheduledPostsRequest(workflow_id=workflow_id)
        scheduled = (await social.ListScheduledPosts(listed, timeout=5)).posts
        assert len(scheduled) == 2 and all(
            p.status == social_pb2.SCHEDULED_POST_STATUS_SCHEDULED for p in scheduled
        )

        request = team_pb2.CancelWorkflowRequest(workflow_id=workflow_id)
        answer = await team.CancelWorkflow(request, timeout=5)
        assert answer.team == "social"
        assert sorted((e.kind, e.id) for e in answer.cancelled_effects) == sorted(
            ("scheduled_post", p.id) for p in scheduled
        )
        after = (await social.ListScheduledPosts(listed, timeout=5)).posts
        assert {p.status for p in after} == {social_pb2.SCHEDULED_POST_STATUS_CANCELLED}

        again = await team.CancelWorkflow(request, timeout=5)
        assert again.team == "social" and list(again.cancelled_effects) == [], "nothing left to undo"

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await team.CancelWorkflow(team_pb2.CancelWorkflowRequest(workflow_id="  "), timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "workflow_id" in bad_request_fields(caught.value)
