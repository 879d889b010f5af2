"""Tenant isolation inside the team services, over real gRPC with the team identity interceptor, on SQLite and on
PostgreSQL (a role bound by row-level security): two tenants on one social service never see or touch each
other's posts, results or checkpoints; erasure leaves no row behind; tenant secrets are stored encrypted, never
echoed, and the publisher posts with each tenant's own token; the research team searches a tenant's own knowledge
documents for that tenant only, and its tool cache never serves one tenant's results to another."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2
from marketing.research.v1 import research_pb2, research_pb2_grpc
from marketing.social.v1 import social_pb2, social_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc
from marketing.tenant.v1 import tenant_pb2

from common.auth.principal import SUBJECT_METADATA, TENANT_METADATA, acting_as, system_principal
from common.cache import MemoryCache, ToolCache, cache_key
from common.config import Settings
from common.secrets import new_key_line
from common.server import RunningServer
from research_service.__main__ import build as build_research
from social_service.__main__ import build as build_social
from tests.conftest import start_service, test_settings
from tests.fakes.social_apis import FakeX
from tests.integration.supervisor_stack import POSTGRES_URL, tenant_role

A, B = "tenant-a", "tenant-b"
TOKEN_A = "x-token-of-tenant-a-" + uuid.uuid4().hex
TASK = "Announce our open-source vector database release on X"
ARTICLE = team_pb2.Artifact(
    id="content-1",
    team="content",
    agent="writer",
    kind=team_pb2.ARTIFACT_KIND_ARTICLE,
    title="Vector databases, explained",
    content="# Vector databases, explained\n\nWhat they are and how to pick one.",
)


def as_(tenant: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata the supervisor sends for a caller of ``tenant`` (none for ``None``)."""
    return () if tenant is None else ((TENANT_METADATA, tenant), (SUBJECT_METADATA, f"jwt:{tenant}-user"))


@dataclass
class Records:
    """Raw access to the tables of one backend, bypassing the services (and, as a superuser, row security)."""

    dialect: str
    settings: Settings
    schema: str = ""
    rls_dsn: str = ""

    async def rows(self, sql: str, *args: Any, checkpoints: bool = False) -> list[dict[str, Any]]:
        if self.dialect == "sqlite":
            name = "social-checkpoints.sqlite" if checkpoints else "social.sqlite"
            with sqlite3.connect(self.settings.data_dir / name) as connection:
                connection.row_factory = sqlite3.Row
                return [dict(r) for r in connection.execute(re.sub(r"\$\d+", "?", sql), args)]
        connection = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": self.schema})
        try:
            return [dict(r) for r in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    async def count(self, table: str, where: str, *args: Any, checkpoints: bool = False) -> int:
        rows = await self.rows(
            f"SELECT count(*) AS n FROM {table} WHERE {where}", *args, checkpoints=checkpoints
        )
        return int(rows[0]["n"])


@dataclass
class SocialStack:
    """A social service with the identity interceptor, and stubs per tenant."""

    server: RunningServer
    channel: grpc.aio.Channel
    records: Records
    x_api: FakeX

    @property
    def team(self) -> team_pb2_grpc.TeamServiceStub:
        return team_pb2_grpc.TeamServiceStub(self.channel)

    @property
    def social(self) -> social_pb2_grpc.SocialServiceStub:
        return social_pb2_grpc.SocialServiceStub(self.channel)


def key_file(directory: Path) -> Path:
    path = directory / "secrets.keys"
    path.write_text(new_key_line() + "\n")
    path.chmod(0o600)
    return path


@asynccontextmanager
async def social_stack(settings: Settings, records: Records, x_api: FakeX) -> AsyncIterator[SocialStack]:
    """The social service's own start-up path (the team identity interceptor comes with it)."""
    server = await start_service("social", build_social, settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield SocialStack(server, channel, records, x_api)
    finally:
        await server.stop(0)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def social(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SocialStack]:
    with FakeX(token=TOKEN_A) as x_api:  # the platform accepts tenant A's token only
        async with _social(request.param, x_api, tmp_path_factory.mktemp("social-tenants")) as stack:
            yield stack


@asynccontextmanager
async def _social(backend: str, x_api: FakeX, directory: Path) -> AsyncIterator[SocialStack]:
    overrides: dict[str, Any] = {
        "data_dir": directory,
        "auth_disabled": False,  # a call without the supervisor's metadata is refused
        "secrets_key_file": key_file(directory),
        "social_publish": "live",
        "x_api_url": x_api.url,  # no process-wide X_BEARER_TOKEN: only tenants' own tokens
        "publisher_poll_s": 0.1,
        "external_timeout_s": 2.0,
        "external_max_attempts": 1,
    }
    if backend == "sqlite":
        settings = test_settings(**overrides)
        async with social_stack(settings, Records("sqlite", settings), x_api) as stack:
            yield stack
        return
    async with tenant_role("social") as (dsn, schema):
        settings = test_settings(database_url=dsn, **overrides)
        async with social_stack(settings, Records("postgres", settings, schema, dsn), x_api) as stack:
            yield stack


async def run_brief(
    stack: SocialStack, tenant: str, workflow_id: str, key: str = "", brief_tenant: str = ""
) -> team_pb2.BriefResult:
    brief = team_pb2.Brief(
        workflow_id=workflow_id,
        task=TASK,
        upstream_artifacts=[ARTICLE],
        tenant_id=brief_tenant or tenant,
        # Publishing is live here: these tests are about tenants, so they opt out of human review (issue 17).
        approval_policy=tenant_pb2.APPROVAL_POLICY_NONE,
    )
    request = team_pb2.RunBriefRequest(brief=brief, idempotency_key=key)
    return (await stack.team.RunBrief(request, metadata=as_(tenant), timeout=30)).result


async def posts_of(stack: SocialStack, tenant: str, **filters: Any) -> list[social_pb2.ScheduledPost]:
    request = social_pb2.ListScheduledPostsRequest(page_size=100, **filters)
    return list((await stack.social.ListScheduledPosts(request, metadata=as_(tenant), timeout=5)).posts)


async def expect(code: grpc.StatusCode, call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return caught.value


def now_timestamp() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    return stamp


async def wait_for_status(
    stack: SocialStack, tenant: str, post_id: str, statuses: set[int]
) -> social_pb2.ScheduledPost:
    for _ in range(200):
        [post] = [p for p in await posts_of(stack, tenant) if p.id == post_id]
        if post.status in statuses:
            return post
        await asyncio.sleep(0.05)
    raise AssertionError(f"post {post_id} never reached {statuses}")


# --- the social service ------------------------------------------------------------------------------------


async def test_one_tenants_posts_are_invisible_to_another_on_every_rpc(social: SocialStack) -> None:
    workflow = str(uuid.uuid4())
    key = f"{workflow}/social/1"
    result_a = await run_brief(social, A, workflow, key)
    posts_a = await posts_of(social, A, workflow_id=workflow)
    assert posts_a and all(p.status == social_pb2.SCHEDULED_POST_STATUS_SCHEDULED for p in posts_a)
    assert await posts_of(social, B) == [] and await posts_of(social, B, workflow_id=workflow) == []

    post = posts_a[0]
    for call in (
        social.social.ReschedulePost(
            social_pb2.ReschedulePostRequest(post_id=post.id, publish_at=now_timestamp()), metadata=as_(B)
        ),
        social.social.CancelScheduledPost(
            social_pb2.CancelScheduledPostRequest(post_id=post.id), metadata=as_(B)
        ),
    ):
        error = await expect(grpc.StatusCode.NOT_FOUND, call)
        assert A not in error.details()
    cancelled = await social.social.CancelWorkflowPosts(
        social_pb2.CancelWorkflowPostsRequest(workflow_id=workflow), metadata=as_(B)
    )
    undone = await social.team.CancelWorkflow(
        team_pb2.CancelWorkflowRequest(workflow_id=workflow), metadata=as_(B)
    )
    assert list(cancelled.posts) == [] and list(undone.cancelled_effects) == []
    drafted = await social.social.DraftPost(
        social_pb2.DraftPostRequest(platform=social_pb2.PLATFORM_X, text="Hello"), metadata=as_(B)
    )
    assert drafted.post.text.startswith("Hello")

    result_b = await run_brief(social, B, workflow, key)  # same workflow id and key, another tenant
    assert not result_b.replayed, "tenant A's stored result is not tenant B's"
    assert (await run_brief(social, A, workflow, key)).replayed and result_a.artifacts
    posts_b = await posts_of(social, B, workflow_id=workflow)
    assert posts_b and {p.id for p in posts_b}.isdisjoint({p.id for p in posts_a})
    assert [p.status for p in await posts_of(social, A, workflow_id=workflow)] == [p.status for p in posts_a]


async def test_a_brief_for_another_tenant_and_calls_without_identity_are_refused(social: SocialStack) -> None:
    error = await expect(
        grpc.StatusCode.PERMISSION_DENIED, run_brief(social, B, str(uuid.uuid4()), brief_tenant=A)
    )
    assert "tenant" in error.details()
    for metadata in ((), ((TENANT_METADATA, "Not/A/Tenant"),)):
        await expect(
            grpc.StatusCode.UNAUTHENTICATED,
            social.social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(), metadata=metadata),
        )
        await expect(
            grpc.StatusCode.UNAUTHENTICATED,
            social.team.EraseTenant(team_pb2.EraseTenantRequest(), metadata=metadata),
        )


async def test_tenant_secrets_are_stored_encrypted_and_never_echoed(social: SocialStack) -> None:
    answer = await social.team.SetTenantSecrets(
        team_pb2.SetTenantSecretsRequest(secrets={"x_bearer_token": TOKEN_A}), metadata=as_(A)
    )
    assert list(answer.names) == ["x_bearer_token"] and TOKEN_A.encode() not in answer.SerializeToString()
    [row] = await social.records.rows(
        "SELECT tenant_id, name, value FROM tenant_secrets WHERE tenant_id = $1", A
    )
    assert row["name"] == "x_bearer_token" and row["value"].startswith("v1.") and TOKEN_A not in row["value"]

    error = await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        social.team.SetTenantSecrets(
            team_pb2.SetTenantSecretsRequest(secrets={"openai_api_key": TOKEN_A}), metadata=as_(A)
        ),
    )
    assert TOKEN_A not in error.details() and TOKEN_A.encode() not in b"".join(
        v if isinstance(v, bytes) else v.encode() for _, v in error.trailing_metadata() or ()
    )
    empty = await social.team.SetTenantSecrets(team_pb2.SetTenantSecretsRequest(), metadata=as_(B))
    assert list(empty.names) == [], "tenant B holds none of tenant A's secrets"
    urn = await social.team.SetTenantSecrets(
        team_pb2.SetTenantSecretsRequest(secrets={"linkedin_author_urn": "urn:li:organization:9"}),
        metadata=as_(B),
    )
    deleted = await social.team.SetTenantSecrets(
        team_pb2.SetTenantSecretsRequest(secrets={"linkedin_author_urn": ""}), metadata=as_(B)
    )
    assert list(urn.names) == ["linkedin_author_urn"] and list(deleted.names) == []


async def test_the_publisher_posts_with_each_tenants_own_credentials(
    social: SocialStack, capsys: pytest.CaptureFixture[str]
) -> None:
    await social.team.SetTenantSecrets(
        team_pb2.SetTenantSecretsRequest(secrets={"x_bearer_token": TOKEN_A}), metadata=as_(A)
    )
    due: dict[str, str] = {}
    for tenant in (A, B):
        await run_brief(social, tenant, workflow := str(uuid.uuid4()))
        [post] = [p for p in await posts_of(social, tenant, workflow_id=workflow)]
        await social.social.ReschedulePost(
            social_pb2.ReschedulePostRequest(post_id=post.id, publish_at=now_timestamp()),
            metadata=as_(tenant),
        )
        due[tenant] = post.id
    done = {social_pb2.SCHEDULED_POST_STATUS_PUBLISHED, social_pb2.SCHEDULED_POST_STATUS_FAILED}
    published = await wait_for_status(social, A, due[A], done)
    failed = await wait_for_status(social, B, due[B], done)
    assert published.status == social_pb2.SCHEDULED_POST_STATUS_PUBLISHED and published.external_id
    assert failed.status == social_pb2.SCHEDULED_POST_STATUS_FAILED and not failed.outcome_unknown
    assert "not configured" in failed.error and B in failed.error and "x_bearer_token" in failed.error
    assert [c.headers["authorization"] for c in social.x_api.tweets()].count(f"Bearer {TOKEN_A}") >= 1
    assert all(c.headers["authorization"] == f"Bearer {TOKEN_A}" for c in social.x_api.tweets())
    logged = capsys.readouterr()
    assert TOKEN_A not in logged.out + logged.err, "a tenant's secret never reaches a log line"


async def test_erasing_a_workflow_then_the_tenant_leaves_no_row_behind(social: SocialStack) -> None:
    records = social.records
    workflows = [str(uuid.uuid4()) for _ in range(2)]
    for tenant in (A, B):
        for workflow in workflows:
            await run_brief(social, tenant, workflow, f"{workflow}/social/1")
    await social.team.SetTenantSecrets(
        team_pb2.SetTenantSecretsRequest(secrets={"x_bearer_token": TOKEN_A}), metadata=as_(A)
    )

    async def left(tenant: str, workflow: str = "") -> dict[str, int]:
        key = f"{workflow}/" if workflow else ""
        thread = f"{tenant}/{key}"
        return {
            "posts": await records.count(
                "scheduled_posts", "tenant_id = $1 AND workflow_id LIKE $2", tenant, f"{workflow or ''}%"
            ),
            "results": await records.count(
                "team_results",
                "tenant_id = $1 AND substr(idempotency_key, 1, $2) = $3",
                tenant,
                len(key),
                key,
            ),
            "checkpoints": await records.count(
                "checkpoints", "substr(thread_id, 1, $1) = $2", len(thread), thread, checkpoints=True
            ),
            "secrets": 0 if workflow else await records.count("tenant_secrets", "tenant_id = $1", tenant),
        }

    before = await left(A, workflows[0])
    assert before["posts"] and before["results"] and before["checkpoints"]
    erased = await social.team.EraseWorkflow(
        team_pb2.EraseWorkflowRequest(workflow_id=workflows[0]), metadata=as_(A)
    )
    assert erased.erased_records == before["posts"] + before["results"] + 1, "posts, results, one thread"
    assert await left(A, workflows[0]) == {"posts": 0, "results": 0, "checkpoints": 0, "secrets": 0}
    assert (await left(A, workflows[1]))["posts"] and (await left(B, workflows[0]))["posts"]

    await social.team.EraseTenant(team_pb2.EraseTenantRequest(), metadata=as_(A))
    assert await left(A) == {"posts": 0, "results": 0, "checkpoints": 0, "secrets": 0}
    remaining_b = await left(B, workflows[0])
    assert remaining_b["posts"] and remaining_b["results"] and remaining_b["checkpoints"], "B is untouched"
    again = await social.team.EraseTenant(team_pb2.EraseTenantRequest(), metadata=as_(A))
    assert again.erased_records == 0, "idempotent"


@pytest.mark.parametrize("social", ["postgres"], indirect=True)  # row-level security is PostgreSQL's
async def test_row_level_security_hides_every_row_from_a_query_without_its_tenant(
    social: SocialStack,
) -> None:
    await run_brief(social, B, str(uuid.uuid4()))
    # The service's own role, bound by the policies.
    connection = await asyncpg.connect(social.records.rls_dsn)
    try:
        assert await connection.fetchval("SELECT count(*) FROM scheduled_posts") == 0
        assert await connection.fetchval("SELECT count(*) FROM tenant_secrets") == 0
        async with connection.transaction():
            await connection.execute("SELECT set_config('marketing.tenant_id', $1, true)", B)
            tenants = {
                r["tenant_id"] for r in await connection.fetch("SELECT tenant_id FROM scheduled_posts")
            }
        assert tenants == {B}
    finally:
        await connection.close()


async def test_publish_attempts_and_outcomes_are_audited_for_the_posts_tenant_only(
    social: SocialStack,
) -> None:
    await social.team.SetTenantSecrets(
        team_pb2.SetTenantSecretsRequest(secrets={"x_bearer_token": TOKEN_A}), metadata=as_(A)
    )
    social.x_api.posts.clear()  # the offline model writes the same post again: X would refuse a duplicate
    due: dict[str, str] = {}
    for tenant in (A, B):
        await run_brief(social, tenant, workflow := str(uuid.uuid4()))
        [post] = await posts_of(social, tenant, workflow_id=workflow)
        await social.social.ReschedulePost(
            social_pb2.ReschedulePostRequest(post_id=post.id, publish_at=now_timestamp()),
            metadata=as_(tenant),
        )
        due[tenant] = post.id
    done = {social_pb2.SCHEDULED_POST_STATUS_PUBLISHED, social_pb2.SCHEDULED_POST_STATUS_FAILED}
    published = await wait_for_status(social, A, due[A], done)
    await wait_for_status(social, B, due[B], done)

    async def audited(tenant: str) -> dict[str, list[team_pb2.AuditEvent]]:
        request = team_pb2.ListAuditEventsRequest(page_size=101)
        events = (await social.team.ListAuditEvents(request, metadata=as_(tenant), timeout=5)).audit_events
        by_post: dict[str, list[team_pb2.AuditEvent]] = {}
        for event in reversed(events):  # oldest first
            by_post.setdefault(event.resource.removeprefix("posts/"), []).append(event)
        return by_post

    mine, theirs = await audited(A), await audited(B)
    assert [e.action for e in mine[due[A]]] == ["post.publish_attempt", "post.published"]
    assert mine[due[A]][1].details["external_id"] == published.external_id
    assert [e.action for e in theirs[due[B]]] == ["post.publish_attempt", "post.publish_failed"]
    assert "not configured" in theirs[due[B]][1].details["error"]
    assert due[B] not in mine and due[A] not in theirs, "each tenant reads its own posts' events only"
    await expect(
        grpc.StatusCode.UNAUTHENTICATED, social.team.ListAuditEvents(team_pb2.ListAuditEventsRequest())
    )
    for bad in (
        team_pb2.ListAuditEventsRequest(before_id="x' OR '1'='1"),
        team_pb2.ListAuditEventsRequest(page_size=500),
    ):
        await expect(grpc.StatusCode.INVALID_ARGUMENT, social.team.ListAuditEvents(bad, metadata=as_(A)))
    if social.records.dialect == "postgres":  # row-level security backs the filter up
        connection = await asyncpg.connect(social.records.rls_dsn)
        try:
            assert await connection.fetchval("SELECT count(*) FROM team_audit_events") == 0
        finally:
            await connection.close()


# --- the research service and the tool cache ---------------------------------------------------------------


async def test_cache_keys_of_two_tenants_do_not_collide_and_erase_per_tenant() -> None:
    assert cache_key("search", {"q": "x"}, tenant=A) != cache_key("search", {"q": "x"}, tenant=B)
    with pytest.raises(ValueError, match="not a tenant id"):
        cache_key("search", {"q": "x"}, tenant="a:b*")
    tool_cache = ToolCache(MemoryCache(100), default_ttl_s=60)
    calls: list[str] = []

    async def search(q: str) -> str:
        calls.append(q)
        return f"answer {len(calls)}"

    cached = tool_cache.wrap("search", search)
    with acting_as(system_principal(A)):
        first_a = await cached(q="vector db")
        assert await cached(q="Vector  DB") == first_a
    with acting_as(system_principal(B)):
        first_b = await cached(q="vector db")
    assert first_b != first_a and len(calls) == 2, "tenant B never gets tenant A's cached result"
    assert await tool_cache.erase_tenant(A) == 1
    with acting_as(system_principal(B)):
        assert await cached(q="vector db") == first_b and len(calls) == 2
    with acting_as(system_principal(A)):
        await cached(q="vector db")
    assert len(calls) == 3


@pytest.fixture(scope="module")
async def research() -> AsyncIterator[grpc.aio.Channel]:
    settings = test_settings(auth_disabled=True)  # calls carry metadata anyway; none means the default tenant
    server = await start_service("research", build_research, settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel
    await server.stop(0)


async def test_a_tenants_knowledge_document_is_found_by_its_own_research_run_only(
    research: grpc.aio.Channel,
) -> None:
    word = f"zorblax{uuid.uuid4().hex[:6]}"
    document = tenant_pb2.KnowledgeDocument(
        id="product-notes",
        title=f"The {word} quantum widget",
        body=f"# The {word} quantum widget\n\nThe {word} quantum widget sells to vector database teams. " * 3,
    )
    profile = tenant_pb2.TenantProfile(knowledge_documents=[document])
    task = f"Research the {word} quantum widget market"
    team = team_pb2_grpc.TeamServiceStub(research)

    async def found(tenant: str, with_profile: bool) -> set[str]:
        brief = team_pb2.Brief(
            workflow_id=str(uuid.uuid4()),
            task=task,
            tenant_id=tenant,
            profile=profile if with_profile else None,
        )
        result = (
            await team.RunBrief(team_pb2.RunBriefRequest(brief=brief), metadata=as_(tenant), timeout=30)
        ).result
        [search] = [a for a in result.artifacts if a.kind == team_pb2.ARTIFACT_KIND_SEARCH_RESULTS]
        return set(search.metadata["document_ids"].split(","))

    assert "tenant:product-notes" in await found(A, with_profile=True)
    assert "tenant:product-notes" not in await found(B, with_profile=False), "same query, other tenant"
    hits = await research_pb2_grpc.ResearchServiceStub(research).SearchKnowledgeBase(
        research_pb2.SearchKnowledgeBaseRequest(query=f"{word} quantum widget"), metadata=as_(A)
    )
    assert all(not h.document_id.startswith("tenant:") for h in hits.results), "the RPC searches shared ones"
    erased = await team.EraseTenant(team_pb2.EraseTenantRequest(), metadata=as_(A))
    assert erased.erased_records >= 1, "tenant A's cached tool results are erased"
    assert (await team.EraseTenant(team_pb2.EraseTenantRequest())).team == "research", (
        "AUTH_DISABLED: default"
    )
