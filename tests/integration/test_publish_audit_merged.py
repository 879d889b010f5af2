"""Issue 17's audit trail across services, on SQLite and on PostgreSQL as roles bound by row-level security: the
approval (recorded by the supervisor), the social team's publish attempts and their outcomes (recorded in its own
records) appear together in the tenant's ``AdminService/ListAuditEvents``, merged newest first and paged; another
tenant never sees them; DeleteTenant erases them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2, supervisor_pb2_grpc

from common.config import Settings
from common.storage import open_store
from social_service.publisher_loop import PublisherLoop
from social_service.publishers import build_publishers
from social_service.scheduled_posts import MIGRATIONS, ScheduledPosts
from tests.conftest import Metadata, authenticated_stack, tenant_api_key
from tests.integration.supervisor_stack import backend_settings
from tests.integration.test_reviews import BEFORE_PUBLISHING, CAMPAIGN

ACME, GLOBEX = "acme", "globex"


async def _publish_due_now(settings: Settings, tenant_id: str, workflow_id: str, tamper: str) -> list[str]:
    """Move the workflow's posts to now, change the text of artifact ``tamper`` (as a bad actor would) and run
    the publisher once; returns the workflow's post ids."""
    store = await open_store(settings, "social", migrations=(MIGRATIONS,))
    try:
        posts = ScheduledPosts(store.db)
        async with store.db.for_tenant(tenant_id) as db:
            await db.execute(
                "UPDATE scheduled_posts SET scheduled_at = $2 WHERE workflow_id = $1",
                workflow_id, datetime.now(UTC) - timedelta(seconds=1),
            )  # fmt: skip
            await db.execute(
                "UPDATE scheduled_posts SET text = 'changed after the approval' WHERE workflow_id = $1 "
                "AND artifact_id = $2",
                workflow_id, tamper,
            )  # fmt: skip
        await PublisherLoop(posts, build_publishers(settings), settings).run_once()
        page, _ = await posts.list(tenant_id, 50, workflow_id=workflow_id)
        return [post.id for post in page]
    finally:
        await store.close()


async def _social_events(settings: Settings, tenant_id: str) -> int:
    store = await open_store(settings, "social", migrations=(MIGRATIONS,))
    try:
        return len(await ScheduledPosts(store.db).audit.older_than(tenant_id, 101))
    finally:
        await store.close()


async def _all_events(
    admin: admin_pb2_grpc.AdminServiceStub, tenant_id: str, metadata: Metadata, page_size: int
) -> list[admin_pb2.AuditEvent]:
    events: list[admin_pb2.AuditEvent] = []
    token = ""
    while True:
        page = await admin.ListAuditEvents(
            admin_pb2.ListAuditEventsRequest(tenant_id=tenant_id, page_size=page_size, page_token=token),
            metadata=metadata,
        )
        assert list(page.unreachable_sources) == []
        assert len(page.audit_events) <= page_size
        events += page.audit_events
        token = page.next_page_token
        if not token:
            return events


@pytest.mark.parametrize("records", ["sqlite", "postgres"])
async def test_the_approval_and_each_publish_attempt_and_outcome_are_in_the_tenants_audit_log(
    records: str,
) -> None:
    async with (
        backend_settings(records, auth_disabled=False, publisher_poll_s=3600.0) as settings,
        authenticated_stack(settings, [ACME, GLOBEX]) as (channel, keys),
    ):
        reviewer = await tenant_api_key(settings, ACME)  # not the submitter: no self-approval
        platform = await tenant_api_key(settings, settings.auth_platform_tenant)
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        paused = (
            await stub.RunTask(
                supervisor_pb2.RunTaskRequest(task=CAMPAIGN, approval_policy=BEFORE_PUBLISHING),
                metadata=keys[ACME],
                timeout=30,
            )
        ).workflow
        assert paused.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW
        reviews = review_pb2_grpc.ReviewServiceStub(channel)
        approved = (
            await reviews.ApproveReview(
                review_pb2.ApproveReviewRequest(review_id=paused.review_id), metadata=reviewer
            )
        ).review
        digests = {v.item.artifact_id: v.approved_digest for v in approved.items}
        assert len(digests) == 2
        for _ in range(200):
            done = (
                await stub.GetWorkflow(
                    supervisor_pb2.GetWorkflowRequest(workflow_id=paused.id), metadata=keys[ACME]
                )
            ).workflow
            if done.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED:
                break
            await asyncio.sleep(0.05)
        assert done.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
        tampered, kept = sorted(digests)
        post_ids = await _publish_due_now(settings, ACME, paused.id, tamper=tampered)

        events = await _all_events(admin, ACME, keys[ACME], page_size=100)
        times = [(e.time.ToDatetime(UTC), e.id) for e in events]
        assert times == sorted(times, reverse=True), "newest first, across both logs"
        assert await _all_events(admin, ACME, keys[ACME], page_size=3) == events, (
            "paged: nothing lost or repeated"
        )
        mine = [
            e
            for e in events
            if e.details.get("workflow_id") == paused.id or e.resource == f"reviews/{paused.review_id}"
        ]
        actions = sorted((e.source, e.action, e.details.get("artifact_id", "")) for e in mine)
        assert actions == sorted(
            [
                ("supervisor", "review.open", ""),
                ("supervisor", "review.approve", ""),
                *(("social", "post.approve", a) for a in digests),
                *(("social", "post.publish_attempt", a) for a in digests),
                ("social", "post.published", kept),
                ("social", "post.publish_refused", tampered),
            ]
        )
        [approval] = [e for e in mine if e.action == "review.approve"]
        assert approval.actor.startswith("api_key:") and approval.source == "supervisor"
        assert all(digest in approval.details["digests"] for digest in digests.values())
        [published] = [e for e in mine if e.action == "post.published"]
        assert published.details["approval_digest"] == digests[kept]
        assert published.details["review_id"] == paused.review_id and published.details["dry_run"] == "true"
        assert published.resource.removeprefix("posts/") in post_ids
        [refused] = [e for e in mine if e.action == "post.publish_refused"]
        assert refused.details["approval_digest"] == digests[tampered] != refused.details["text_digest"]
        applied = {e.details["artifact_id"]: e for e in mine if e.action == "post.approve"}
        assert {a: e.details["approval_digest"] for a, e in applied.items()} == digests
        assert {e.actor for e in applied.values()} == {approval.actor}
        assert all(e.tenant_id == ACME for e in events)

        # The other tenant: none of these in its own log, and acme's log is not its to read.
        theirs = await _all_events(admin, GLOBEX, keys[GLOBEX], page_size=100)
        assert not {e.id for e in theirs} & {e.id for e in events}
        assert not [e for e in theirs if e.source == "social"]
        with pytest.raises(grpc.aio.AioRpcError) as refused_read:
            await admin.ListAuditEvents(
                admin_pb2.ListAuditEventsRequest(tenant_id=ACME), metadata=keys[GLOBEX]
            )
        assert refused_read.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)

        # Erasing the tenant erases the social team's events of it, and only them.
        assert await _social_events(settings, ACME) == 6  # 2 approvals, 2 attempts, 2 outcomes
        await admin.DeleteTenant(admin_pb2.DeleteTenantRequest(tenant_id=ACME), metadata=platform)
        assert await _social_events(settings, ACME) == 0


async def test_a_team_that_does_not_answer_is_named_not_silently_left_out() -> None:
    from common.team_client import TeamClient
    from common.teams import TEAMS
    from supervisor_service.team_audit import team_audit_reader
    from tests.conftest import test_settings

    settings = test_settings()
    clients = {team: TeamClient(team, "127.0.0.1:9", settings) for team in TEAMS.names}  # nothing listens
    try:
        page = await team_audit_reader(clients, TEAMS, timeout_s=1.0)(ACME, 20, None)
    finally:
        for client in clients.values():
            await client.close()
    assert page.unreachable == ["social"], "only the teams that keep an audit log are asked"
    assert page.events == [] and not page.more
