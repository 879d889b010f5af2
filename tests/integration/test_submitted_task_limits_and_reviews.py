"""Submitted tasks (SubmitTask, the embedded queue) under the tenant's limits and the review flow: a budget and an
approval policy travel with the queued task, the day's task quota is counted at submission, and a pending review of
a submitted task is announced to its notify_url, signed, and its finish after the decision (any round) too, once."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2

from common.storage import open_store
from common.webhooks import REVIEW_REQUIRED, WORKFLOW_COMPLETED, verify
from supervisor_service.queue.store import TaskStore
from tests.conftest import bad_request_fields, in_process_stack, test_settings
from tests.fakes.webhook_receiver import Received, WebhookReceiver
from tests.integration.test_quotas import _quota_failure, _set_limits
from tests.integration.test_reviews import CAMPAIGN, wait_for

SECRET = "whsec-test-0123456789"


async def _received(receiver: WebhookReceiver, count: int) -> list[Received]:
    """The receiver's requests once it has ``count`` of them (webhooks go out in the background)."""
    for _ in range(200):
        if len(receiver.received) >= count:
            break
        await asyncio.sleep(0.05)
    return list(receiver.received)


def _event(hook: Received) -> dict[str, object]:
    assert verify(SECRET, hook.headers["webhook-signature"], hook.body)
    event: dict[str, object] = json.loads(hook.body)
    assert hook.headers["webhook-id"] == event["id"] and hook.headers["webhook-event"] == event["type"]
    return event


async def _submit(
    stub: supervisor_pb2_grpc.SupervisorServiceStub, **fields: object
) -> supervisor_pb2.Workflow:
    request = supervisor_pb2.SubmitTaskRequest(task=CAMPAIGN, **fields)  # type: ignore[arg-type]
    return (await stub.SubmitTask(request, timeout=10)).workflow


async def test_a_submitted_task_runs_under_its_budget_and_stops_when_it_runs_out() -> None:
    async with in_process_stack(test_settings(queue_poll_s=0.05)) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        queued = await _submit(stub, budget=team_pb2.Budget(max_model_calls=3))
        assert queued.status == supervisor_pb2.WORKFLOW_STATUS_QUEUED
        assert queued.budget.max_model_calls == 3  # resolved at submission, kept with the queued task
        done = await wait_for(channel, queued.id, supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED)
        assert done.budget_exceeded.limit == "max_model_calls"
        assert done.usage.model_calls == 3


async def test_a_bad_budget_or_policy_on_submit_is_invalid() -> None:
    async with in_process_stack(test_settings()) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _submit(stub, budget=team_pb2.Budget(max_cost_usd=-1), approval_policy=99)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {"budget.max_cost_usd", "approval_policy"} <= set(bad_request_fields(caught.value))


async def test_the_days_task_quota_is_counted_at_submission_and_a_repeated_request_id_is_not() -> None:
    settings = test_settings(tenant_limits_cache_s=0)
    await _set_limits(settings, "default", admin_pb2.Tenant(quotas=admin_pb2.TenantQuotas(tasks_per_day=1)))
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        first = await _submit(stub, request_id="order-1")
        again = await _submit(stub, request_id="order-1")  # the same workflow, not counted again
        assert again.id == first.id
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _submit(stub, request_id="order-2")
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        quotas, retry = _quota_failure(caught.value)
        assert quotas == ["tasks_per_day"] and retry is not None and retry > 0


async def test_a_submitted_task_waits_for_review_announces_it_signed_and_completes_on_approval() -> None:
    settings = test_settings(queue_poll_s=0.05, webhook_secret=SECRET, webhook_allow_private_networks=True)
    with WebhookReceiver() as receiver:
        async with in_process_stack(settings) as channel:
            stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
            queued = await _submit(
                stub, approval_policy=tenant_pb2.APPROVAL_POLICY_BEFORE_PUBLISHING, notify_url=receiver.url
            )
            paused = await wait_for(channel, queued.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
            assert paused.review_id
            for _ in range(100):  # the announcement goes out in the background
                if receiver.received:
                    break
                await asyncio.sleep(0.05)
            assert len(receiver.received) == 1, "one review.required announcement, no completion yet"
            hook = receiver.received[0]
            assert hook.headers["webhook-event"] == REVIEW_REQUIRED
            assert verify(SECRET, hook.headers["webhook-signature"], hook.body)
            payload = json.loads(hook.body)["data"]
            assert payload["review_id"] == paused.review_id and payload["workflow_id"] == queued.id
            reviews = review_pb2_grpc.ReviewServiceStub(channel)
            await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=paused.review_id))
            done = await wait_for(channel, queued.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
            assert [
                a
                for a in done.artifacts
                if a.team == "social" and a.kind == team_pb2.ARTIFACT_KIND_SOCIAL_POST
            ]
            # The resumed run finished on the deciding replica: one workflow.completed, signed, final status.
            hooks = await _received(receiver, 2)
            await asyncio.sleep(0.5)  # a duplicate would have come by now
            assert len(receiver.received) == 2, [h.headers["webhook-event"] for h in receiver.received]
            completed = _event(hooks[1])
            assert completed["type"] == WORKFLOW_COMPLETED
            data = completed["data"]
            assert isinstance(data, dict)
            assert data["workflow_id"] == queued.id and data["status"] == "WORKFLOW_STATUS_COMPLETED"
            assert any(a["kind"] == "ARTIFACT_KIND_SOCIAL_POST" for a in data["artifacts"])
        store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
        try:
            attempts = await TaskStore(store.db).webhook_attempts("default", queued.id)
        finally:
            await store.close()
    assert [(a["event_type"], a["status_code"]) for a in attempts] == [
        (REVIEW_REQUIRED, 200),
        (WORKFLOW_COMPLETED, 200),
    ]
    assert attempts[1]["delivery_id"] == completed["id"]


async def test_a_second_review_round_then_approval_sends_one_completion_and_a_cancel_sends_its_own() -> None:
    settings = test_settings(queue_poll_s=0.05, webhook_secret=SECRET, webhook_allow_private_networks=True)
    with WebhookReceiver() as receiver:
        async with in_process_stack(settings) as channel:
            stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
            reviews = review_pb2_grpc.ReviewServiceStub(channel)
            policy = tenant_pb2.APPROVAL_POLICY_BEFORE_PUBLISHING
            queued = await _submit(stub, approval_policy=policy, notify_url=receiver.url, request_id="r-1")
            first = await wait_for(channel, queued.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
            await reviews.RejectReview(
                review_pb2.RejectReviewRequest(review_id=first.review_id, comments="shorter, please")
            )
            for _ in range(200):  # the team drafts again and a round-2 review opens
                second = await wait_for(channel, queued.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
                if second.review_id != first.review_id:
                    break
                await asyncio.sleep(0.05)
            assert second.review_id != first.review_id
            await reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=second.review_id))
            await wait_for(channel, queued.id, supervisor_pb2.WORKFLOW_STATUS_COMPLETED)
            # Another submitted task, cancelled while it waits for its review: its finish is announced too.
            other = await _submit(stub, approval_policy=policy, notify_url=receiver.url, request_id="r-2")
            await wait_for(channel, other.id, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
            await stub.CancelWorkflow(supervisor_pb2.CancelWorkflowRequest(workflow_id=other.id))
            hooks = await _received(receiver, 5)
            await asyncio.sleep(0.5)
    events = [_event(h) for h in receiver.received]
    mine = [
        (e["type"], e["data"]["review_id"] if e["type"] == REVIEW_REQUIRED else e["data"]["status"])  # type: ignore[index]
        for e in events
        if e["data"]["workflow_id"] == queued.id
    ]  # type: ignore[index]
    assert mine == [
        (REVIEW_REQUIRED, first.review_id),
        (REVIEW_REQUIRED, second.review_id),
        (WORKFLOW_COMPLETED, "WORKFLOW_STATUS_COMPLETED"),
    ]
    cancelled = [e for e in events if e["data"]["workflow_id"] == other.id]  # type: ignore[index]
    assert [
        (e["type"], e["data"]["status"] if e["type"] == WORKFLOW_COMPLETED else "") for e in cancelled
    ] == [  # type: ignore[index]
        (REVIEW_REQUIRED, ""),
        (WORKFLOW_COMPLETED, "WORKFLOW_STATUS_CANCELLED"),
    ]
    assert len(hooks) == 5 and len({e["id"] for e in events}) == 5


async def test_a_budget_stop_and_the_resumed_finish_are_two_completions_with_their_own_ids() -> None:
    settings = test_settings(queue_poll_s=0.05, webhook_secret=SECRET, webhook_allow_private_networks=True)
    with WebhookReceiver() as receiver:
        async with in_process_stack(settings) as channel:
            stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
            queued = await _submit(stub, budget=team_pb2.Budget(max_model_calls=3), notify_url=receiver.url)
            await wait_for(channel, queued.id, supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED)
            await _received(receiver, 1)
            resumed = await stub.ResumeWorkflow(
                supervisor_pb2.ResumeWorkflowRequest(workflow_id=queued.id, budget=team_pb2.Budget()),
                timeout=60,
            )
            assert resumed.workflow.status != supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED
            await _received(receiver, 2)
            await asyncio.sleep(0.5)
    events = [_event(hook) for hook in receiver.received]
    statuses = [e["data"]["status"] for e in events]  # type: ignore[index]
    assert statuses == [
        "WORKFLOW_STATUS_BUDGET_EXCEEDED",
        supervisor_pb2.WorkflowStatus.Name(resumed.workflow.status),
    ]
    assert all(e["type"] == WORKFLOW_COMPLETED for e in events)
    assert events[0]["id"] != events[1]["id"], "each finish is its own event"
