"""Human review over real gRPC with in-process services (SQLite and PostgreSQL): a campaign pauses at the social team's review,
a reviewer approves (with an edit), rejects with comments or lets the review expire, and only approved texts are
published, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2, supervisor_pb2_grpc
from marketing.tenant.v1 import tenant_pb2

from common.agents.review_gate import digest
from common.config import Settings
from common.storage import open_store
from social_service.approvals import MISMATCH_ERROR
from social_service.publisher_loop import PublisherLoop, outbox_path
from social_service.publishers import build_publishers
from social_service.scheduled_posts import MIGRATIONS, ScheduledPost, ScheduledPosts
from tests.conftest import bad_request_fields, in_process_stack
from tests.integration.supervisor_stack import backend_settings

CAMPAIGN = "Prepare LinkedIn and X posts announcing our open-source vector database release"
BEFORE_PUBLISHING = tenant_pb2.APPROVAL_POLICY_BEFORE_PUBLISHING


@pytest.fixture(params=["sqlite", "postgres"])
async def review_settings(request: pytest.FixtureRequest) -> AsyncIterator[Settings]:
    """SQLite, or PostgreSQL as a role without BYPASSRLS (row-level security holds); the tests run the publisher
    themselves."""
    async with backend_settings(request.param, publisher_poll_s=3600.0) as settings:
        yield settings


@pytest.fixture
async def stack(review_settings: Settings) -> AsyncIterator[grpc.aio.Channel]:
    async with in_process_stack(review_settings) as channel:
        yield channel


async def start_campaign(channel: grpc.aio.Channel, task: str = CAMPAIGN) -> supervisor_pb2.Workflow:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
    request = supervisor_pb2.RunTaskRequest(task=task, approval_policy=BEFORE_PUBLISHING)
    return (await stub.RunTask(request, timeout=30)).workflow


async def wait_for(channel: grpc.aio.Channel, workflow_id: str, *statuses: int) -> supervisor_pb2.Workflow:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
    for _ in range(200):
        workflow = (
            await stub.GetWorkflow(supervisor_pb2.GetWorkflowRequest(workflow_id=workflow_id))
        ).workflow
        if workflow.status in statuses:
            return workflow
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"workflow {workflow_id} stayed {supervisor_pb2.WorkflowStatus.Name(workflow.status)}"
    )


async def workflow_posts(settings: Settings, workflow_id: str) -> list[ScheduledPost]:
    store = await open_store(settings, "social", migrations=(MIGRATIONS,))
    try:
        posts, _ = await ScheduledPosts(store.db).list("default", 50, workflow_id=workflow_id)
        return posts
    finally:
        await store.close()


async def publish_due_now(
    settings: Settings, workflow_id: str, tamper: dict[str, str] | None = None
) -> list[Any]:
    """Move the workflow's posts to now (a text in ``tamper`` replaces the stored one, as a bad actor would), run
    the publisher once and return the workflow's outbox lines."""
    store = await open_store(settings, "social", migrations=(MIGRATIONS,))
    try:
        posts = ScheduledPosts(store.db)
        async with store.db.for_tenant("default") as db:
            await db.execute(
                "UPDATE scheduled_posts SET scheduled_at = $2 WHERE workflow_id = $1",
                workflow_id, datetime.now(UTC) - timedelta(seconds=1),
            )  # fmt: skip
            for artifact_id, text in (tamper or {}).items():
                await db.execute(
                    "UPDATE scheduled_posts SET text = $3 WHERE workflow_id = $1 AND artifact_id = $2",
                    workflow_id, artifact_id, text,
                )  # fmt: skip
        await PublisherLoop(posts, build_publishers(settings), settings).run_once()
    finally:
        await store.close()
    path = outbox_path(settings)
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["workflow_id"] == workflow_id]


async def test_a_campaign_pauses_for_review_with_its_posts_held(
    stack: grpc.aio.Channel, review_settings: Settings
) -> None:
    paused = await start_campaign(stack)
    assert paused.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW
    assert paused.review_id
    assert "social" not in [r.team for r in paused.team_runs]  # its run is paused, not finished
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    review = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id))).review
    assert review.status == review_pb2.REVIEW_STATUS_PENDING and review.team == "social"
    assert {v.item.platform for v in review.items} == {"x", "linkedin"}
    assert all(v.item.text and v.item.HasField("scheduled_time") for v in review.items)
    held = await workflow_posts(review_settings, paused.id)
    assert held and all(p.approval_required and not p.approval_digest for p in held)
    # The posts reach their time unapproved: the publisher sends nothing and cancels them.
    assert await publish_due_now(review_settings, paused.id) == []
    posts = await workflow_posts(review_settings, paused.id)
    assert all(p.status == "cancelled" and "review expired" in p.error for p in posts)


async def test_approval_with_an_edit_completes_the_workflow_without_running_an_agent_twice(
    stack: grpc.aio.Channel, review_settings: Settings
) -> None:
    paused = await start_campaign(stack)
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    review = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id))).review
    x_item = next(v.item for v in review.items if v.item.platform == "x")
    edited = "Our vector database is out today: fast, open source, ready for production. #opensource"
    approved = await reviews.ApproveReview(
        review_pb2.ApproveReviewRequest(
            review_id=review.id, edits=[review_pb2.ItemEdit(artifact_id=x_item.artifact_id, text=edited)]
        )
    )
    assert approved.review.status == review_pb2.REVIEW_STATUS_APPROVED
    texts = {v.item.artifact_id: v.approved_text for v in approved.review.items}
    assert texts[x_item.artifact_id] == edited
    assert all(v.approved_digest == digest(v.approved_text) for v in approved.review.items)
    done = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
    social = next(r for r in done.team_runs if r.team == "social")
    workers = [s.agent for s in social.steps if s.kind == 2]
    assert workers.count("post_drafter") == 1 and workers.count("scheduler") == 1
    assert workers.count("human_review") == 1
    posts = {a.id: a.content for a in done.artifacts if a.kind == 5}
    assert posts == texts
    outbox = await publish_due_now(review_settings, paused.id)
    assert sorted(line["artifact_id"] for line in outbox) == sorted(texts)
    published = {line["artifact_id"]: json.dumps(line["request"]) for line in outbox}
    assert json.dumps(edited)[1:-1] in published[x_item.artifact_id]
    again = await publish_due_now(review_settings, paused.id)
    assert len(again) == len(outbox)  # published once


async def test_a_post_changed_after_its_approval_is_not_published(
    stack: grpc.aio.Channel, review_settings: Settings
) -> None:
    paused = await start_campaign(stack)
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=paused.review_id))
    await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
    posts = await workflow_posts(review_settings, paused.id)
    tampered = posts[0].artifact_id
    outbox = await publish_due_now(review_settings, paused.id, {tampered: "Buy now!!! Guaranteed results"})
    assert tampered not in {line["artifact_id"] for line in outbox}
    assert len(outbox) == len(posts) - 1
    failed = {p.artifact_id: p for p in await workflow_posts(review_settings, paused.id)}[tampered]
    assert failed.status == "failed" and failed.error == MISMATCH_ERROR


async def test_rejection_with_comments_revises_the_drafts_with_the_comments_in_the_prompt(
    stack: grpc.aio.Channel, review_settings: Settings
) -> None:
    paused = await start_campaign(stack)
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    comment = "Mention the Apache 2.0 licence and drop the exclamation marks"
    sent_back = await reviews.RejectReview(
        review_pb2.RejectReviewRequest(review_id=paused.review_id, comments=comment)
    )
    assert sent_back.review.status == review_pb2.REVIEW_STATUS_CHANGES_REQUESTED
    second = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
    for _ in range(100):
        second = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
        if second.review_id != paused.review_id:
            break
        await asyncio.sleep(0.05)
    assert second.review_id != paused.review_id
    revised = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=second.review_id))).review
    assert revised.round == 2
    first_ids = {v.item.artifact_id for v in sent_back.review.items}
    assert first_ids.isdisjoint({v.item.artifact_id for v in revised.items})
    cancelled = [p for p in await workflow_posts(review_settings, paused.id) if p.artifact_id in first_ids]
    assert cancelled and all(p.status == "cancelled" for p in cancelled)
    await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=revised.id))
    done = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
    assert {a.id for a in done.artifacts if a.kind == 5} == {v.item.artifact_id for v in revised.items}


async def test_bad_decisions_are_refused(stack: grpc.aio.Channel, review_settings: Settings) -> None:
    paused = await start_campaign(stack)
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await reviews.ApproveReview(
            review_pb2.ApproveReviewRequest(
                review_id=paused.review_id, edits=[review_pb2.ItemEdit(artifact_id="nope", text="x")]
            )
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "edits[0].artifact_id" in bad_request_fields(bad.value)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await reviews.GetReview(review_pb2.GetReviewRequest(review_id="00000000-0000-0000-0000-000000000000"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    await reviews.RejectReview(
        review_pb2.RejectReviewRequest(review_id=paused.review_id, comments="no", final=True)
    )
    with pytest.raises(grpc.aio.AioRpcError) as decided:
        await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=paused.review_id))
    assert decided.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    done = await wait_for(
        stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED, supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    )
    assert not [a for a in done.artifacts if a.kind == 5]
    assert all(p.status == "cancelled" for p in await workflow_posts(review_settings, paused.id))


async def set_profile(
    channel: grpc.aio.Channel, profile: tenant_pb2.TenantProfile, metadata: Any = None
) -> None:
    from google.protobuf import field_mask_pb2
    from marketing.admin.v1 import admin_pb2, admin_pb2_grpc

    admin = admin_pb2_grpc.AdminServiceStub(channel)
    tenant_id = "default" if metadata is None else dict(metadata).get("x-test-tenant", "")
    request = admin_pb2.UpdateTenantRequest(
        tenant=admin_pb2.Tenant(id=tenant_id, profile=profile),
        update_mask=field_mask_pb2.FieldMask(paths=["profile"]),
    )
    await admin.UpdateTenant(request, metadata=metadata)


async def test_a_flagged_draft_is_approved_only_with_an_audited_override(
    stack: grpc.aio.Channel, review_settings: Settings
) -> None:
    brand = tenant_pb2.BrandProfile(competitor_names=["vector database"], banned_claims=["fastest"])
    await set_profile(stack, tenant_pb2.TenantProfile(brand=brand))
    paused = await start_campaign(stack)
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    review = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id))).review
    assert review.items and all(v.flagged for v in review.items)
    assert all(any(f.rule == "competitor" for f in v.findings) for v in review.items)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=review.id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "override_flags" in (refused.value.details() or "")
    # An edit that still makes a banned claim stays flagged; an override approves it, audited.
    item = review.items[0].item
    edit = review_pb2.ItemEdit(artifact_id=item.artifact_id, text="The fastest way to search your embeddings")
    with pytest.raises(grpc.aio.AioRpcError) as still:
        await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=review.id, edits=[edit]))
    assert still.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    approved = await reviews.ApproveReview(
        review_pb2.ApproveReviewRequest(review_id=review.id, edits=[edit], override_flags=True)
    )
    assert approved.review.status == review_pb2.REVIEW_STATUS_APPROVED
    assert approved.review.approvals[0].override_flags
    await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
    from marketing.admin.v1 import admin_pb2, admin_pb2_grpc

    events = await admin_pb2_grpc.AdminServiceStub(stack).ListAuditEvents(
        admin_pb2.ListAuditEventsRequest(tenant_id="default")
    )
    overrides = [e for e in events.audit_events if e.action == "review.approve_override"]
    assert len(overrides) == 1 and "fastest" in json.dumps(dict(overrides[0].details))


async def test_an_edit_over_the_platform_limit_is_invalid(stack: grpc.aio.Channel) -> None:
    paused = await start_campaign(stack)
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    review = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id))).review
    x_item = next(v.item for v in review.items if v.item.platform == "x")
    assert x_item.max_length == 280
    edit = review_pb2.ItemEdit(artifact_id=x_item.artifact_id, text="word " * 80)
    with pytest.raises(grpc.aio.AioRpcError) as too_long:
        await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=review.id, edits=[edit]))
    assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "280" in bad_request_fields(too_long.value)["edits[0].text"]
    pending = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=review.id))).review
    assert pending.status == review_pb2.REVIEW_STATUS_PENDING and not pending.approvals


async def test_reviews_are_listed_by_status_and_summarised(stack: grpc.aio.Channel) -> None:
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    first = await start_campaign(stack)
    second = await start_campaign(stack)
    x_item = next(
        v.item
        for v in (
            await reviews.GetReview(review_pb2.GetReviewRequest(review_id=first.review_id))
        ).review.items
        if v.item.platform == "x"
    )
    edit = review_pb2.ItemEdit(artifact_id=x_item.artifact_id, text=x_item.text + " Try it today.")
    await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=first.review_id, edits=[edit]))
    await wait_for(stack, first.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
    pending = await reviews.ListReviews(
        review_pb2.ListReviewsRequest(status=review_pb2.REVIEW_STATUS_PENDING)
    )
    assert [r.id for r in pending.reviews] == [second.review_id]
    await asyncio.sleep(0.01)
    young = review_pb2.ListReviewsRequest()
    young.max_age.FromMilliseconds(5)
    assert list((await reviews.ListReviews(young)).reviews) == []
    young.max_age.FromSeconds(3600)
    assert len((await reviews.ListReviews(young)).reviews) == 2
    page = await reviews.ListReviews(review_pb2.ListReviewsRequest(page_size=1))
    assert len(page.reviews) == 1 and page.next_page_token
    summary = await reviews.GetReviewSummary(review_pb2.GetReviewSummaryRequest())
    drafter = next(f for f in summary.figures if f.team == "social" and f.agent == "post_drafter")
    assert drafter.decided_items == 2 and drafter.approved_items == 2 and drafter.approval_rate == 1.0
    assert drafter.edited_items == 1 and drafter.mean_edit_distance == len(" Try it today.") / 2


async def test_an_expired_review_publishes_nothing(
    stack: grpc.aio.Channel, review_settings: Settings
) -> None:
    paused = await start_campaign(stack)
    store = await open_store(review_settings, "supervisor", migrations=("supervisor_service",))
    try:  # the first post's publishing time passes while nobody decides
        async with store.db.for_tenant("default") as db:
            (row,) = await db.fetch("SELECT snapshot FROM reviews WHERE id = $1", paused.review_id)
            review = review_pb2.Review.FromString(bytes(row["snapshot"]))
            review.expire_time.FromDatetime(datetime.now(UTC) - timedelta(seconds=1))
            await db.execute(
                "UPDATE reviews SET snapshot = $2 WHERE id = $1", paused.review_id, review.SerializeToString()
            )
    finally:
        await store.close()
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    expired = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id))).review
    assert expired.status == review_pb2.REVIEW_STATUS_EXPIRED
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=paused.review_id))
    assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    done = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
    assert not [a for a in done.artifacts if a.kind == 5]
    posts = await workflow_posts(review_settings, paused.id)
    assert posts and all(p.status == "cancelled" and not p.approval_digest for p in posts)
    assert await publish_due_now(review_settings, paused.id) == []


async def test_two_distinct_approvals_when_the_tenant_requires_them(stack: grpc.aio.Channel) -> None:
    profile = tenant_pb2.TenantProfile(review=tenant_pb2.ReviewSettings(required_approvals=2))
    await set_profile(stack, profile)
    paused = await start_campaign(stack)
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    first = await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=paused.review_id))
    assert first.review.status == review_pb2.REVIEW_STATUS_PENDING and len(first.review.approvals) == 1
    with pytest.raises(grpc.aio.AioRpcError) as twice:  # the same reviewer counts once
        await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=paused.review_id))
    assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    workflow = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
    assert workflow.review_id == paused.review_id


async def test_content_is_approved_before_it_leaves_the_content_team(stack: grpc.aio.Channel) -> None:
    tasks = supervisor_pb2_grpc.SupervisorServiceStub(stack)
    request = supervisor_pb2.RunTaskRequest(
        task="Write a blog article and LinkedIn posts about our open-source vector database",
        approval_policy=tenant_pb2.APPROVAL_POLICY_BEFORE_CONTENT_LEAVES,
    )
    paused = (await tasks.RunTask(request, timeout=30)).workflow
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    article = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id))).review
    assert article.team == "content" and [v.item.kind for v in article.items] == [3]
    assert "social" not in [r.team for r in paused.team_runs]
    edited = article.items[0].item.text.replace("#", "##", 1) + "\n\nEdited by the editor."
    edit = review_pb2.ItemEdit(artifact_id=article.items[0].item.artifact_id, text=edited)
    await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=article.id, edits=[edit]))
    posts = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
    for _ in range(100):
        posts = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
        if posts.review_id != article.id:
            break
        await asyncio.sleep(0.05)
    social = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=posts.review_id))).review
    assert social.team == "social"
    await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=social.id))
    done = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
    assert [a.content for a in done.artifacts if a.kind == 3] == [edited]


async def test_deleting_a_workflow_erases_its_reviews(stack: grpc.aio.Channel) -> None:
    paused = await start_campaign(stack)
    tasks = supervisor_pb2_grpc.SupervisorServiceStub(stack)
    await tasks.CancelWorkflow(supervisor_pb2.CancelWorkflowRequest(workflow_id=paused.id))
    cancelled = await wait_for(stack, paused.id, supervisor_pb2.WORKFLOW_STATUS_CANCELLED)
    assert cancelled.status == supervisor_pb2.WORKFLOW_STATUS_CANCELLED
    await tasks.DeleteWorkflow(supervisor_pb2.DeleteWorkflowRequest(workflow_id=paused.id))
    reviews = review_pb2_grpc.ReviewServiceStub(stack)
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_streaming_callers_get_a_review_required_event(stack: grpc.aio.Channel) -> None:
    stub = supervisor_pb2_grpc.SupervisorServiceStub(stack)
    request = supervisor_pb2.StreamTaskRequest(task=CAMPAIGN, approval_policy=BEFORE_PUBLISHING)
    events = [e async for e in stub.StreamTask(request, timeout=30)]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[-2:] == ["review_required", "done"]
    required, done = events[-2].review_required, events[-1].done
    assert done.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW
    assert (required.review_id, required.team, required.items) == (done.review_id, "social", 2)
    with pytest.raises(grpc.aio.AioRpcError) as resume:
        await stub.ResumeWorkflow(supervisor_pb2.ResumeWorkflowRequest(workflow_id=done.id))
    assert resume.value.code() == grpc.StatusCode.FAILED_PRECONDITION
