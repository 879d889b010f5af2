"""A tenant's profile shapes the agents' work, over real gRPC: the brief's profile reaches the team's workers (brand
rules, enabled platforms, time zone and posting windows, enabled tools), and a tenant's model choices reach a real
OpenAI-compatible provider's requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.field_mask_pb2 import FieldMask
from langchain_core.tools import StructuredTool
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc
from marketing.social.v1 import social_pb2
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc
from marketing.tenant.v1 import tenant_pb2
from pydantic import BaseModel

from common.agents.offline_work import OfflineWork, TemplateBehaviour, ToolCall
from common.agents.scope import WorkScope
from common.agents.worker import ArtifactDraft, BoundWorkerModel, ChatModels, Worker, run_worker
from common.auth.principal import SUBJECT_METADATA, TENANT_METADATA
from common.config import Settings
from common.llm.factory import ModelRole
from common.routing import KeywordRouter, KeywordRoutingBehaviour, RouteOption, Router, RoutingContext
from common.server import RunningServer
from social_service.__main__ import build as build_social
from tests.conftest import authenticated_stack, start_service, test_settings
from tests.fakes.openai_server import FakeOpenAIServer

TENANT = "acme"
PROFILE = tenant_pb2.TenantProfile(
    brand=tenant_pb2.BrandProfile(
        voice="plain, warm, no hype",
        audience="founders of small SaaS companies",
        banned_phrases=["guaranteed results"],
        required_disclosures=["#ad"],
        default_hashtags=["Acme"],
    ),
    enabled_platforms=[social_pb2.PLATFORM_LINKEDIN],
    time_zone="Asia/Tokyo",
    posting_windows=[
        tenant_pb2.PostingWindow(platform=social_pb2.PLATFORM_LINKEDIN, start_hour=7, end_hour=8)
    ],
    enabled_tools=["draft_post", "propose_posting_times", "analyze_article_seo", "search_knowledge_base"],
)
ARTICLE = team_pb2.Artifact(
    id="content-1",
    team="content",
    agent="writer",
    kind=team_pb2.ARTIFACT_KIND_ARTICLE,
    title="Guaranteed results with vector search",
    content="# Guaranteed results with vector search\n\nWhat it is and how to start.",
)
TASK = "Announce our vector search launch on X and LinkedIn and schedule the posts"


def tenant_metadata(tenant: str = TENANT) -> tuple[tuple[str, str], ...]:
    """What the supervisor sends a team for a caller of ``tenant``."""
    return (TENANT_METADATA, tenant), (SUBJECT_METADATA, f"jwt:{tenant}-user")


@pytest.fixture(scope="module")
async def social() -> AsyncIterator[RunningServer]:
    server = await start_service("social", build_social, test_settings())
    yield server
    await server.stop(0)


async def run_social(server: RunningServer, brief: team_pb2.Brief) -> team_pb2.BriefResult:
    import grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = team_pb2_grpc.TeamServiceStub(channel)
        request = team_pb2.RunBriefRequest(brief=brief)
        return (await stub.RunBrief(request, metadata=tenant_metadata(), timeout=30)).result


def of_kind(result: team_pb2.BriefResult, kind: team_pb2.ArtifactKind) -> list[team_pb2.Artifact]:
    return [a for a in result.artifacts if a.kind == kind]


async def test_the_social_team_drafts_and_schedules_as_the_briefs_profile_says(social: RunningServer) -> None:
    brief = team_pb2.Brief(
        workflow_id="wf-profile-1", task=TASK, upstream_artifacts=[ARTICLE], tenant_id=TENANT, profile=PROFILE
    )
    result = await run_social(social, brief)
    [post] = of_kind(result, team_pb2.ARTIFACT_KIND_SOCIAL_POST)
    assert post.metadata["platform"] == "linkedin", "X is not enabled for the tenant"
    assert "guaranteed results" not in post.content.casefold()
    assert "\n\n#ad\n\n#Acme" in post.content
    [schedule] = of_kind(result, team_pb2.ARTIFACT_KIND_POSTING_SCHEDULE)
    [slot] = schedule.metadata["slots"].split(";")
    at = datetime.fromisoformat(slot.removeprefix("linkedin@"))
    assert (at.hour, at.utcoffset().total_seconds()) == (7, 9 * 3600)  # type: ignore[union-attr]
    assert "post_ids" not in schedule.metadata, "schedule_posts is not among the tenant's tools"


async def test_without_a_profile_the_team_works_as_before(social: RunningServer) -> None:
    brief = team_pb2.Brief(
        workflow_id="wf-profile-2", task=TASK, upstream_artifacts=[ARTICLE], tenant_id=TENANT
    )
    result = await run_social(social, brief)
    posts = of_kind(result, team_pb2.ARTIFACT_KIND_SOCIAL_POST)
    assert sorted(p.metadata["platform"] for p in posts) == ["linkedin", "x"]
    assert all("#ad" not in p.content for p in posts)


async def test_a_task_naming_only_disabled_platforms_drafts_nothing(social: RunningServer) -> None:
    brief = team_pb2.Brief(workflow_id="wf-profile-3", task="Tweet about the launch", profile=PROFILE)
    result = await run_social(social, brief)
    assert of_kind(result, team_pb2.ARTIFACT_KIND_SOCIAL_POST) == []
    drafter = next(s for s in result.steps if s.agent == "post_drafter")
    assert "the task names X (Twitter), which the tenant does not publish on" in drafter.summary


async def test_a_team_run_uses_the_tenants_worker_model(social: RunningServer) -> None:
    profile = tenant_pb2.TenantProfile()
    profile.CopyFrom(PROFILE)
    profile.models.worker_model = "tenant-worker"
    brief = team_pb2.Brief(
        workflow_id="wf-profile-4", task=TASK, upstream_artifacts=[ARTICLE], profile=profile
    )
    result = await run_social(social, brief)
    assert {a.metadata["model"] for a in result.artifacts} == {"offline:tenant-worker"}
    assert "offline:tenant-worker" in {m.model for m in result.usage.models}


async def test_a_team_run_shows_the_workers_the_brand(monkeypatch: pytest.MonkeyPatch) -> None:
    from common.agents.brief import parse_brief
    from tests.fakes.recording_model import recording_models

    with recording_models(monkeypatch) as journal:
        server = await start_service("social", build_social, test_settings())
        try:
            brief = team_pb2.Brief(workflow_id="wf-profile-5", task=TASK, profile=PROFILE)
            await run_social(server, brief)
        finally:
            await server.stop(0)
    prompts = [parse_brief(str(e["messages"][1].content)) for e in journal if e["role"] == "worker"]
    assert prompts and all(p is not None and "- guaranteed results" in p.brand for p in prompts)


async def test_through_the_supervisor_every_team_works_with_the_tenants_profile() -> None:
    """The whole stack with authentication on: a platform administrator sets a tenant's profile; the tenant's task
    reaches every team with it (the supervisor fills ``Brief.profile`` from the tenant store)."""
    settings = test_settings(auth_disabled=False)
    async with authenticated_stack(settings, [settings.auth_platform_tenant, "acme"]) as (channel, callers):
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        tenant = admin_pb2.Tenant(id="acme", display_name="Acme", profile=PROFILE)
        update = admin_pb2.UpdateTenantRequest(tenant=tenant, update_mask=FieldMask(paths=["profile"]))
        await admin.UpdateTenant(update, metadata=callers[settings.auth_platform_tenant])
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = supervisor_pb2.RunTaskRequest(
            task="Write a blog article about vector search and announce it on LinkedIn and X"
        )
        workflow = (await stub.RunTask(request, metadata=callers["acme"], timeout=60)).workflow
    artifacts = list(workflow.artifacts)
    [article] = [a for a in artifacts if a.kind == team_pb2.ARTIFACT_KIND_ARTICLE]
    assert "written for founders of small SaaS companies" in article.content
    assert article.content.replace("_Written by the offline model", "").rstrip().split("\n\n")[-2] == "#ad"
    posts = [a for a in artifacts if a.kind == team_pb2.ARTIFACT_KIND_SOCIAL_POST]
    assert [p.metadata["platform"] for p in posts] == ["linkedin"]
    assert "#ad" in posts[0].content and "#Acme" in posts[0].content


# --- models ------------------------------------------------------------------------------------------------


@pytest.fixture
def provider() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model_name="deployment-model") as server:
        yield server


def openai_settings(server: FakeOpenAIServer) -> Settings:
    return test_settings(
        llm_provider="openai",
        openai_base_url=server.base_url,
        openai_api_key="test-key",
        llm_model="deployment-model",
        llm_router_model="deployment-router",
        llm_timeout_s=5.0,
        llm_max_attempts=1,
    )


class Args(BaseModel):
    """Arguments of the test tool."""

    text: str


async def _echo(text: str) -> str:
    return text


def plan(work: OfflineWork) -> list[ToolCall]:
    return []


WORKER = Worker(
    name="writer",
    description="writes",
    instructions="Write one sentence.",
    tools=(StructuredTool.from_function(coroutine=_echo, name="echo", description="echo", args_schema=Args),),
    offline=TemplateBehaviour(lambda work: "text", plan),
    build_artifacts=lambda output: [ArtifactDraft("note", "Note", output.text)],
)


async def test_a_tenants_models_are_the_ones_a_real_provider_is_asked_for(provider: FakeOpenAIServer) -> None:
    settings = openai_settings(provider)
    model = BoundWorkerModel.build(WORKER, settings)
    profile: dict[str, Any] = json_format.MessageToDict(
        tenant_pb2.TenantProfile(models=tenant_pb2.ModelChoices(worker_model="tenant-worker")),
        preserving_proto_field_name=True,
    )
    await run_worker(WORKER, model, "<task>\nWrite\n</task>", WorkScope(task="Write", profile=profile), 2)
    tenant_calls = len(provider.requests)
    await run_worker(WORKER, model, "<task>\nWrite\n</task>", WorkScope(task="Write"), 2)
    models = [r["model"] for r in provider.requests]
    assert tenant_calls and set(models[:tenant_calls]) == {"tenant-worker"}
    assert set(models[tenant_calls:]) == {"deployment-model"}
    assert [t["function"]["name"] for t in provider.requests[0]["tools"]] == ["echo"]

    provider.requests.clear()
    keyword_router = KeywordRouter([RouteOption("writer", "writes")])
    routers = ChatModels(settings, ModelRole.ROUTER, KeywordRoutingBehaviour(keyword_router))
    router = Router(routers.default(), keyword_router, "Route.", models=routers.get)
    context = RoutingContext("Write", (), (RouteOption("writer", "writes"),))
    await router.decide(context, model_name="tenant-router")
    await router.decide(context)
    assert [r["model"] for r in provider.requests] == ["tenant-router", "deployment-router"]
