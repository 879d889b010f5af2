"""Reviews and identity: a tenant's reviewers see and decide only their tenant's reviews, deciding needs
marketing.reviews.write, and a submitter approves their own task only when the tenant allows it."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2, supervisor_pb2_grpc
from marketing.tenant.v1 import tenant_pb2

from common.auth.principal import Scope
from tests.conftest import authenticated_stack, tenant_api_key
from tests.integration.supervisor_stack import backend_settings

CAMPAIGN = "Prepare LinkedIn and X posts announcing our open-source vector database release"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_tenants_reviewers_scopes_and_self_approval(backend: str) -> None:
    async with (
        backend_settings(backend, auth_disabled=False, publisher_poll_s=3600.0) as settings,
        authenticated_stack(settings, ["tenant-a", "tenant-b"]) as (channel, keys),
    ):
        tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        reviews = review_pb2_grpc.ReviewServiceStub(channel)
        await require_two_approvals(channel, keys["tenant-a"])
        request = supervisor_pb2.RunTaskRequest(
            task=CAMPAIGN, approval_policy=tenant_pb2.APPROVAL_POLICY_BEFORE_PUBLISHING
        )
        paused = (await tasks.RunTask(request, metadata=keys["tenant-a"], timeout=30)).workflow
        assert paused.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW
        get = review_pb2.GetReviewRequest(review_id=paused.review_id)
        approve = review_pb2.ApproveReviewRequest(review_id=paused.review_id)

        # Tenant B sees nothing of it and cannot decide it.
        for call in (reviews.GetReview(get, metadata=keys["tenant-b"]),
                     reviews.ApproveReview(approve, metadata=keys["tenant-b"]),
                     reviews.RejectReview(review_pb2.RejectReviewRequest(review_id=paused.review_id, comments="x"),
                                          metadata=keys["tenant-b"])):  # fmt: skip
            with pytest.raises(grpc.aio.AioRpcError) as hidden:
                await call
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await reviews.ListReviews(review_pb2.ListReviewsRequest(), metadata=keys["tenant-b"])
        assert list(listed.reviews) == []

        # The submitter may not approve their own task (the tenant does not allow it).
        with pytest.raises(grpc.aio.AioRpcError) as own:
            await reviews.ApproveReview(approve, metadata=keys["tenant-a"])
        assert own.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # A reader may read but not decide.
        reader = await tenant_api_key(settings, "tenant-a", [Scope.TASKS_READ.value])
        assert (await reviews.GetReview(get, metadata=reader)).review.id == paused.review_id
        with pytest.raises(grpc.aio.AioRpcError) as read_only:
            await reviews.ApproveReview(approve, metadata=reader)
        assert read_only.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # Two other reviewers of tenant A approve: the tenant asks for two distinct approvals.
        scopes = [Scope.TASKS_READ.value, Scope.REVIEWS_WRITE.value]
        first, second = [await tenant_api_key(settings, "tenant-a", scopes) for _ in range(2)]
        half = (await reviews.ApproveReview(approve, metadata=first)).review
        assert half.status == review_pb2.REVIEW_STATUS_PENDING and half.required_approvals == 2
        approved = (await reviews.ApproveReview(approve, metadata=second)).review
        assert approved.status == review_pb2.REVIEW_STATUS_APPROVED
        assert len({a.reviewer for a in approved.approvals}) == 2
        assert approved.decided_by.startswith("api_key:") and approved.decided_by != approved.submitted_by


async def require_two_approvals(channel: grpc.aio.Channel, metadata: object) -> None:
    """Tenant A's administrator asks for two approvals per review (AdminService/UpdateTenant, path profile)."""
    profile = tenant_pb2.TenantProfile(review=tenant_pb2.ReviewSettings(required_approvals=2))
    request = admin_pb2.UpdateTenantRequest(
        tenant=admin_pb2.Tenant(id="tenant-a", profile=profile),
        update_mask=field_mask_pb2.FieldMask(paths=["profile"]),
    )
    await admin_pb2_grpc.AdminServiceStub(channel).UpdateTenant(request, metadata=metadata)
