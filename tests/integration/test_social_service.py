"""The social service over real gRPC: a team run schedules its drafts once, the scheduled-post RPCs, validation,
the publish status in ListTools, and the in-process publisher loop publishing a due post in dry-run."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2
from marketing.social.v1 import social_pb2, social_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.config import Settings
from common.server import RunningServer
from social_service.__main__ import build
from tests.conftest import bad_request_fields, start_service, test_settings

TASK = "Announce our open-source vector database on LinkedIn and X"
ARTICLE = team_pb2.Artifact(
    id="content-1",
    team="content",
    agent="writer",
    kind=team_pb2.ARTIFACT_KIND_ARTICLE,
    title="Vector databases, explained",
    content="# Vector databases, explained\n\nWhat they are and how to pick one.",
)


@pytest.fixture(scope="module")
def social_settings() -> Settings:
    return test_settings(publisher_poll_s=0.1)


@pytest.fixture(scope="module")
async def social(social_settings: Settings) -> AsyncIterator[RunningServer]:
    server = await start_service("social", build, social_settings)
    yield server
    await server.stop(0)


@pytest.fixture
async def stubs(
    social: RunningServer,
) -> AsyncIterator[tuple[team_pb2_grpc.TeamServiceStub, social_pb2_grpc.SocialServiceStub]]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{social.port}") as channel:
        yield team_pb2_grpc.TeamServiceStub(channel), social_pb2_grpc.SocialServiceStub(channel)


async def run_brief(
    team: team_pb2_grpc.TeamServiceStub, workflow_id: str, key: str = ""
) -> team_pb2.BriefResult:
    brief = team_pb2.Brief(workflow_id=workflow_id, task=TASK, upstream_artifacts=[ARTICLE])
    response = await team.RunBrief(team_pb2.RunBriefRequest(brief=brief, idempotency_key=key), timeout=20)
    return response.result


async def list_posts(
    social: social_pb2_grpc.SocialServiceStub, **filters: object
) -> list[social_pb2.ScheduledPost]:
    response = await social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(**filters), timeout=5)
    return list(response.posts)


async def test_a_team_run_schedules_its_drafts_once_even_when_replayed_or_rerun(stubs) -> None:
    team, social = stubs
    workflow_id = str(uuid.uuid4())
    result = await run_brief(team, workflow_id, key=f"{workflow_id}:social")
    drafts = {a.id: a for a in result.artifacts if a.kind == team_pb2.ARTIFACT_KIND_SOCIAL_POST}
    [schedule] = [a for a in result.artifacts if a.kind == team_pb2.ARTIFACT_KIND_POSTING_SCHEDULE]
    posts = await list_posts(social, workflow_id=workflow_id)
    assert len(drafts) == 2 and {p.artifact_id for p in posts} == set(drafts)
    assert set(schedule.metadata["post_ids"].split()) == {p.id for p in posts}
    for post in posts:
        draft = drafts[post.artifact_id]
        assert post.text == draft.content and post.status == social_pb2.SCHEDULED_POST_STATUS_SCHEDULED
        assert social_pb2.Platform.Name(post.platform) == f"PLATFORM_{draft.metadata['platform'].upper()}"
        assert post.scheduled_time.ToDatetime(UTC) > datetime.now(UTC) and post.dry_run
        assert post.id in schedule.content

    replayed = await run_brief(team, workflow_id, key=f"{workflow_id}:social")
    assert replayed.replayed
    rerun = await run_brief(team, workflow_id)  # a retried run without the key: same artifacts, same posts
    assert not rerun.replayed
    again = await list_posts(social, workflow_id=workflow_id)
    assert sorted(p.id for p in again) == sorted(p.id for p in posts)


async def test_a_brief_without_a_workflow_schedules_nothing_but_still_proposes_times(stubs) -> None:
    team, _ = stubs
    result = await run_brief(team, "")
    [schedule] = [a for a in result.artifacts if a.kind == team_pb2.ARTIFACT_KIND_POSTING_SCHEDULE]
    assert "post_ids" not in schedule.metadata and "linkedin@" in schedule.metadata["slots"]


async def test_list_tools_shows_scheduling_and_the_publishers_dry_run_status(stubs) -> None:
    team, _ = stubs
    tools = {t.name: t for t in (await team.ListTools(team_pb2.ListToolsRequest(), timeout=5)).tools}
    assert list(tools) == [
        "draft_post",
        "propose_posting_times",
        "schedule_posts",
        "publish_x",
        "publish_linkedin",
    ]
    assert list(tools["schedule_posts"].agents) == ["scheduler"] and tools["schedule_posts"].configured
    for name, variable in (("publish_x", "X_BEARER_TOKEN"), ("publish_linkedin", "LINKEDIN_AUTHOR_URN")):
        assert not tools[name].configured and not tools[name].agents
        assert tools[name].status.startswith("dry-run") and variable in tools[name].status


async def test_reschedule_to_the_past_publishes_now_in_dry_run_and_cancel_follows_the_state_machine(
    stubs, social_settings: Settings
) -> None:
    team, social = stubs
    workflow_id = str(uuid.uuid4())
    await run_brief(team, workflow_id)
    first, second = await list_posts(social, workflow_id=workflow_id)

    past = timestamp_pb2.Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(days=1))
    moved = (
        await social.ReschedulePost(social_pb2.ReschedulePostRequest(post_id=first.id, publish_at=past))
    ).post
    assert moved.status == social_pb2.SCHEDULED_POST_STATUS_SCHEDULED
    assert moved.scheduled_time.ToDatetime(UTC) > datetime.now(UTC) - timedelta(minutes=1), (
        "the past means now"
    )
    for _ in range(100):
        [current] = await list_posts(
            social, workflow_id=workflow_id, status=social_pb2.SCHEDULED_POST_STATUS_PUBLISHED
        ) or [None]
        if current is not None:
            break
        await asyncio.sleep(0.05)
    assert (
        current is not None
        and current.id == first.id
        and current.dry_run
        and current.HasField("publish_time")
    )
    outbox = [
        json.loads(line)
        for line in (social_settings.data_dir / "social_outbox.jsonl").read_text().splitlines()
    ]
    assert [line["request"]["json"] for line in outbox if line["post_id"] == first.id]

    cancelled = (
        await social.CancelScheduledPost(social_pb2.CancelScheduledPostRequest(post_id=second.id))
    ).post
    assert cancelled.status == social_pb2.SCHEDULED_POST_STATUS_CANCELLED
    for call, post_id, status in (
        (
            social.CancelScheduledPost(social_pb2.CancelScheduledPostRequest(post_id=second.id)),
            second.id,
            "cancelled",
        ),
        (
            social.CancelScheduledPost(social_pb2.CancelScheduledPostRequest(post_id=first.id)),
            first.id,
            "published",
        ),
        (
            social.ReschedulePost(social_pb2.ReschedulePostRequest(post_id=first.id, publish_at=past)),
            first.id,
            "published",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"{post_id} is {status}" in caught.value.details()


async def test_pages_follow_the_token(stubs) -> None:
    team, social = stubs
    workflow_id = str(uuid.uuid4())
    await run_brief(team, workflow_id)
    first = await social.ListScheduledPosts(
        social_pb2.ListScheduledPostsRequest(workflow_id=workflow_id, page_size=1)
    )
    assert len(first.posts) == 1 and first.next_page_token
    second = await social.ListScheduledPosts(
        social_pb2.ListScheduledPostsRequest(
            workflow_id=workflow_id, page_size=1, page_token=first.next_page_token
        )
    )
    assert len(second.posts) == 1 and second.posts[0].id != first.posts[0].id and second.next_page_token == ""


async def test_bad_requests_are_invalid_argument_naming_each_field_and_unknown_posts_not_found(stubs) -> None:
    _, social = stubs
    cases = [
        (social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(page_size=500, page_token="garbage", status=99)),
         {"page_size", "status"}),
        (social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(page_token="garbage")), {"page_token"}),
        (social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(workflow_id="x" * 200)), {"workflow_id"}),
        (social.ReschedulePost(social_pb2.ReschedulePostRequest(post_id="nope")), {"post_id", "publish_at"}),
        (social.ReschedulePost(social_pb2.ReschedulePostRequest(
            post_id=str(uuid.uuid4()), publish_at=timestamp_pb2.Timestamp(seconds=int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())))),
         {"publish_at"}),
        (social.ReschedulePost(social_pb2.ReschedulePostRequest(
            post_id=str(uuid.uuid4()), publish_at=timestamp_pb2.Timestamp(seconds=10**15))), {"publish_at"}),
        (social.ReschedulePost(social_pb2.ReschedulePostRequest(
            post_id=str(uuid.uuid4()), publish_at=timestamp_pb2.Timestamp(seconds=-(10**15)))), {"publish_at"}),
        (social.CancelScheduledPost(social_pb2.CancelScheduledPostRequest(post_id="'; DROP TABLE x")), {"post_id"}),
    ]  # fmt: skip
    for call, fields in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(bad_request_fields(caught.value)) == fields
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await social.CancelScheduledPost(social_pb2.CancelScheduledPostRequest(post_id=str(uuid.uuid4())))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
