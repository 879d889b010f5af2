"""Tenant isolation on the supervisor: over real gRPC, on SQLite and on PostgreSQL (as a role bound by row-level
security), tenant B never reads, lists, resumes, cancels or deletes tenant A's workflows; team calls carry the
workflow's tenant, in metadata and in the brief with the tenant's profile."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.tenant.v1 import tenant_pb2

import supervisor_service.graph
from common.auth.principal import SUBJECT_METADATA, TENANT_METADATA
from supervisor_service.graph import profile_for
from supervisor_service.workflows import thread_id_of
from tests.conftest import as_tenant, authenticated_stack
from tests.integration.supervisor_stack import (
    BACKENDS,
    RecordingTeam,
    backend_settings,
    run_task,
    start_recording_team,
    start_tenant_supervisor,
)

S = supervisor_pb2
ACME, GLOBEX = as_tenant("acme"), as_tenant("globex")
RESEARCH_TASK = "Research the vector database market and its competitors"


async def _code_of(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_tenant_b_gets_not_found_for_tenant_a_workflows_and_lists_only_its_own(backend: str) -> None:
    """Two tenants with their own API keys, authentication on, the real stack."""
    async with (
        backend_settings(backend, auth_disabled=False) as settings,
        authenticated_stack(settings, ["acme", "globex"]) as (channel, callers),
    ):
        ACME, GLOBEX = callers["acme"], callers["globex"]
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        mine = await run_task(stub, ACME, RESEARCH_TASK)
        theirs = await run_task(stub, GLOBEX, RESEARCH_TASK)
        assert mine.status == theirs.status == S.WORKFLOW_STATUS_COMPLETED
        for call in (
            stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=mine.id), metadata=GLOBEX),
            stub.ResumeWorkflow(S.ResumeWorkflowRequest(workflow_id=mine.id), metadata=GLOBEX),
            stub.CancelWorkflow(S.CancelWorkflowRequest(workflow_id=mine.id), metadata=GLOBEX),
            stub.DeleteWorkflow(S.DeleteWorkflowRequest(workflow_id=mine.id), metadata=GLOBEX),
        ):
            assert await _code_of(call) == grpc.StatusCode.NOT_FOUND
        unknown = str(uuid.uuid4())
        missing = await _code_of(stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=unknown), metadata=GLOBEX))
        assert missing == grpc.StatusCode.NOT_FOUND, (
            "another tenant's workflow looks exactly like no workflow"
        )
        kept = await stub.GetWorkflow(S.GetWorkflowRequest(workflow_id=mine.id), metadata=ACME)
        assert kept.workflow == mine and kept.agent_executions, "nothing of tenant A's changed"
        for caller, expected in ((ACME, mine.id), (GLOBEX, theirs.id)):
            page = await stub.ListWorkflows(S.ListWorkflowsRequest(page_size=1), metadata=caller)
            assert [w.id for w in page.workflows] == [expected] and page.next_page_token == ""


async def test_a_page_token_of_one_tenant_lists_nothing_for_another() -> None:
    async with (
        backend_settings("sqlite", auth_disabled=False) as settings,
        authenticated_stack(settings, ["acme", "globex"]) as (channel, callers),
    ):
        ACME, GLOBEX = callers["acme"], callers["globex"]
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        for _ in range(2):
            await run_task(stub, ACME, RESEARCH_TASK)
        page = await stub.ListWorkflows(S.ListWorkflowsRequest(page_size=1), metadata=ACME)
        assert page.next_page_token
        request = S.ListWorkflowsRequest(page_size=1, page_token=page.next_page_token)
        code = await _code_of(stub.ListWorkflows(request, metadata=GLOBEX))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        anonymous = await _code_of(stub.ListWorkflows(S.ListWorkflowsRequest()))
        assert anonymous == grpc.StatusCode.UNAUTHENTICATED, (
            "no principal and auth on: refused, never a default"
        )


async def test_briefs_carry_the_tenant_and_the_profile_of_the_current_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervisor_service.graph, "uses_knowledge_documents", lambda team: team == "research")
    profiles = {"acme": _profile("plain, warm")}

    async def profile_of(tenant_id: str) -> tenant_pb2.TenantProfile:
        return profiles.get(tenant_id, tenant_pb2.TenantProfile())

    async with backend_settings("sqlite") as settings:
        teams = {name: RecordingTeam(name) for name in ("research", "content")}
        servers = {name: await start_recording_team(settings, team) for name, team in teams.items()}
        addresses = {name: f"127.0.0.1:{server.port}" for name, server in servers.items()}
        supervisor = await start_tenant_supervisor(
            settings, addresses | {"social": "127.0.0.1:1"}, profile_of=profile_of
        )
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{supervisor.server.port}") as channel:
                stub = supervisor.stub(channel)
                first = await run_task(stub, ACME, "Research the market, then write a blog article about it")
                profiles["acme"] = _profile("bold")
                await run_task(stub, ACME, "Write a blog article about vector search")
                await run_task(stub, GLOBEX, "Write a blog article about vector search")
            research, content = teams["research"].briefs, teams["content"].briefs
            assert [(t, s, b.tenant_id) for t, s, b in research] == [("acme", "tester", "acme")]
            assert [b.profile.knowledge_documents[0].id for _, _, b in research] == ["kb-1"]
            assert [(t, b.tenant_id, b.profile.brand.voice) for t, _, b in content] == [
                ("acme", "acme", "plain, warm"),
                ("acme", "acme", "bold"),  # the profile is read again for each run
                ("globex", "globex", ""),
            ]
            assert all(not b.profile.knowledge_documents for _, _, b in content), "only teams that use them"
            config = {"configurable": {"thread_id": thread_id_of("acme", first.id)}}
            assert (await supervisor.runner.graph.aget_state(config)).values["workflow_id"] == first.id
            other = {"configurable": {"thread_id": first.id}}
            assert not (await supervisor.runner.graph.aget_state(other)).values, "threads are <tenant>/<id>"
        finally:
            await supervisor.server.stop(0)
            for server in servers.values():
                await server.stop(0)


def _profile(voice: str) -> tenant_pb2.TenantProfile:
    return tenant_pb2.TenantProfile(
        brand=tenant_pb2.BrandProfile(voice=voice),
        knowledge_documents=[
            tenant_pb2.KnowledgeDocument(id="kb-1", title="Pricing", body="We charge per seat.")
        ],
    )


def test_knowledge_documents_go_only_to_teams_whose_spec_uses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = _profile("plain")
    monkeypatch.setattr(supervisor_service.graph, "uses_knowledge_documents", lambda team: team == "research")
    assert profile_for("research", profile) is profile
    trimmed = profile_for("content", profile)
    assert trimmed is not None and not trimmed.knowledge_documents and trimmed.brand.voice == "plain"
    assert list(profile.knowledge_documents), "the tenant's profile itself is left alone"
    assert profile_for("content", None) is None


async def test_an_orphaned_workflow_resumes_in_the_background_as_its_tenant() -> None:
    async with backend_settings("sqlite", workflow_heartbeat_s=0.1) as settings:
        research = RecordingTeam("research")
        server = await start_recording_team(settings, research)
        addresses = {
            "research": f"127.0.0.1:{server.port}",
            "content": "127.0.0.1:1",
            "social": "127.0.0.1:1",
        }
        supervisor = await start_tenant_supervisor(settings, addresses)
        try:
            workflow_id = str(uuid.uuid4())
            snapshot = S.Workflow(id=workflow_id, task=RESEARCH_TASK, status=S.WORKFLOW_STATUS_RUNNING)
            store = supervisor.runner.store
            await store.create_workflow("globex", workflow_id, RESEARCH_TASK, "a-dead-replica", b"")
            await store.save_workflow("globex", workflow_id, "running", snapshot.SerializeToString())
            async with store.db.for_tenant("globex") as db:  # its owner stopped heart-beating long ago
                await db.execute(
                    "UPDATE workflows SET heartbeat_at = $2 WHERE id = $1",
                    workflow_id,
                    "2000-01-01T00:00:00+00:00",
                )
            for _ in range(100):
                record = await store.get_workflow("globex", workflow_id)
                if record is not None and record.status != "running":
                    break
                await asyncio.sleep(0.05)
            assert record is not None and record.status == "completed"
            assert [(t, s, b.tenant_id) for t, s, b in research.briefs] == [("globex", "system", "globex")]
        finally:
            await supervisor.server.stop(0)
            await server.stop(0)


def test_team_calls_carry_the_bound_principal_in_metadata() -> None:
    from common.auth.principal import AuthMethod, Principal, acting_as
    from common.team_client import identity_metadata

    assert identity_metadata() == ()
    caller = Principal("acme", "user@acme.example", frozenset(), AuthMethod.JWT)
    with acting_as(caller):
        assert dict(identity_metadata()) == {TENANT_METADATA: "acme", SUBJECT_METADATA: "user@acme.example"}
    with acting_as(Principal("acme", "Zoë\n", frozenset(), AuthMethod.JWT)):
        assert dict(identity_metadata())[SUBJECT_METADATA] == "Zo%C3%AB%0A", "metadata stays printable ASCII"
