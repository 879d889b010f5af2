"""Human review with a real OpenAI-compatible client against the loopback fake: the moderation endpoint (flags,
faults) and a revision whose prompt carries the reviewer's comments."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2, supervisor_pb2_grpc
from marketing.tenant.v1 import tenant_pb2

from common.brand_rules import Severity
from common.moderation import Moderator
from tests.conftest import in_process_stack, test_settings
from tests.fakes.openai_server import FakeOpenAIServer, Fault

TASK = "Prepare LinkedIn and X posts announcing our open-source vector database release"


@pytest.fixture
def provider() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model_name="fake-model") as server:
        yield server


def moderation_settings(server: FakeOpenAIServer, **overrides: Any) -> Any:
    return test_settings(
        moderation_model="omni-moderation-latest", openai_base_url=server.base_url, openai_api_key="k",
        external_max_attempts=2, external_retry_max_wait_s=0.01, **overrides,
    )  # fmt: skip


async def test_moderation_flags_texts_and_a_failed_check_is_a_warning(provider: FakeOpenAIServer) -> None:
    moderator = Moderator.from_settings(moderation_settings(provider))
    assert moderator is not None
    try:
        findings = await moderator.check(["A calm product update", "We will kill the competition"])
        assert findings[0] == []
        assert [f.rule for f in findings[1]] == ["moderation"] and findings[1][0].severity == Severity.FLAGGED
        sent = [r for r in provider.requests if r["_path"] == "/v1/moderations"]
        assert sent[-1]["model"] == "omni-moderation-latest" and len(sent[-1]["input"]) == 2
        provider.script(Fault(status=500), Fault(status=500))  # both attempts fail
        failed = await moderator.check(["anything"])
        assert failed[0][0].severity == Severity.WARNING and "failed" in failed[0][0].message
        provider.script(Fault(status=503))  # one retry recovers
        assert await moderator.check(["We will kill the competition"]) != [[]]
    finally:
        await moderator.aclose()
    assert Moderator.from_settings(test_settings()) is None


async def test_a_revision_prompt_carries_the_reviewers_comments(provider: FakeOpenAIServer) -> None:
    settings = test_settings(
        llm_provider="openai", openai_base_url=provider.base_url, openai_api_key="k", llm_model="fake-model",
        publisher_poll_s=3600.0,
    )  # fmt: skip
    async with in_process_stack(settings) as channel:
        tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        reviews = review_pb2_grpc.ReviewServiceStub(channel)
        request = supervisor_pb2.RunTaskRequest(
            task=TASK, approval_policy=tenant_pb2.APPROVAL_POLICY_BEFORE_PUBLISHING
        )
        paused = (await tasks.RunTask(request, timeout=60)).workflow
        assert paused.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW, paused.summary
        before = len(provider.requests)
        comment = "Say Apache-2.0 licensed, and no exclamation marks"
        await reviews.RequestChanges(
            review_pb2.RequestChangesRequest(
                review_id=paused.review_id,
                item_comments=[{"artifact_id": "social-1", "comment": comment}],
            )
        )
        for _ in range(200):
            workflow = (
                await tasks.GetWorkflow(supervisor_pb2.GetWorkflowRequest(workflow_id=paused.id))
            ).workflow
            if workflow.review_id and workflow.review_id != paused.review_id:
                break
            await asyncio.sleep(0.05)
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW
        later = [
            str(r.get("messages")) for r in provider.requests[before:] if r["_path"].endswith("completions")
        ]
        assert later and any(comment in prompt for prompt in later)


async def test_an_edit_is_moderated_too(provider: FakeOpenAIServer) -> None:
    settings = moderation_settings(provider, publisher_poll_s=3600.0)
    async with in_process_stack(settings) as channel:
        tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        reviews = review_pb2_grpc.ReviewServiceStub(channel)
        request = supervisor_pb2.RunTaskRequest(
            task=TASK, approval_policy=tenant_pb2.APPROVAL_POLICY_BEFORE_PUBLISHING
        )
        paused = (await tasks.RunTask(request, timeout=60)).workflow
        review = (await reviews.GetReview(review_pb2.GetReviewRequest(review_id=paused.review_id))).review
        assert not any(v.flagged for v in review.items)  # the drafts were moderated: nothing flagged
        assert any(r["_path"] == "/v1/moderations" for r in provider.requests)
        item = review.items[0].item
        bad = review_pb2.ItemEdit(artifact_id=item.artifact_id, text="We will kill the competition")
        with pytest.raises(grpc.aio.AioRpcError) as flagged:
            await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=review.id, edits=[bad]))
        assert flagged.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        good = review_pb2.ItemEdit(artifact_id=item.artifact_id, text="We outpace the competition")
        approved = await reviews.ApproveReview(
            review_pb2.ApproveReviewRequest(review_id=review.id, edits=[good])
        )
        assert approved.review.status == review_pb2.REVIEW_STATUS_APPROVED
