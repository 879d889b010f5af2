"""The queue's guarantees on both backends: a 1,000-task burst drains with nothing lost or run twice, priorities
order the work, one tenant's backlog does not starve another, per-tenant caps hold, poison tasks are dead-lettered
and requeued, and webhooks are signed and retried until a 2xx answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2 as S
from prometheus_client import REGISTRY

from common.storage import open_store
from common.webhooks import SIGNATURE_HEADER, verify
from supervisor_service.queue.store import TaskStore
from supervisor_service.workflows import WorkflowRunner
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.queue_stack import (
    BACKENDS,
    ONE_TEAM_TASK,
    QueueStack,
    queue_settings,
    queue_stack,
    until,
    wait_finished,
)

PRIORITIES = [S.PRIORITY_LOW, S.PRIORITY_NORMAL, S.PRIORITY_HIGH, S.PRIORITY_URGENT]


async def submit_many(
    stack: QueueStack, metadata: object, priorities: list[int], batch: int = 50
) -> list[str]:
    """Submit one task per priority given (concurrently, ``batch`` at a time); returns the workflow ids in order."""
    ids: list[str] = []
    for start in range(0, len(priorities), batch):
        answers = await asyncio.gather(
            *(
                stack.stub.SubmitTask(
                    S.SubmitTaskRequest(task=f"{ONE_TEAM_TASK} #{start + n}", priority=p),
                    metadata=metadata,
                    timeout=30,
                )
                for n, p in enumerate(priorities[start : start + batch])
            )
        )
        ids += [a.workflow.id for a in answers]
    return ids


async def completed_ids(stack: QueueStack, metadata: object) -> list[str]:
    """Every COMPLETED workflow of the caller's tenant."""
    ids, token = [], ""
    while True:
        page = await stack.stub.ListWorkflows(
            S.ListWorkflowsRequest(page_size=100, page_token=token, status=S.WORKFLOW_STATUS_COMPLETED),
            metadata=metadata,
            timeout=10,
        )
        ids += [w.id for w in page.workflows]
        if not (token := page.next_page_token):
            return ids


@pytest.mark.parametrize(("backend", "records"), [("embedded", "postgres"), ("rabbitmq", "sqlite")])
async def test_a_thousand_mixed_priority_tasks_from_two_tenants_drain_with_none_lost_or_run_twice(
    backend: str, records: str
) -> None:
    async with (
        queue_settings(backend, records, queue_capacity=32) as settings,
        queue_stack(settings) as stack,
    ):
        tenants = {name: await stack.tenant(name) for name in ("acme", "globex")}
        submitted = {
            name: await submit_many(stack, metadata, [PRIORITIES[n % 4] for n in range(500)])
            for name, metadata in tenants.items()
        }
        await until(lambda: len(stack.teams["content"].started) >= 1000, timeout_s=90)
        await asyncio.sleep(0.5)  # anything run twice would show up now
        for name, metadata in tenants.items():  # the last briefs' workflows finish just after they start
            done = await completed_ids(stack, metadata)
            for _ in range(300):
                if len(done) >= len(submitted[name]):
                    break
                await asyncio.sleep(0.1)
                done = await completed_ids(stack, metadata)
            assert sorted(done) == sorted(submitted[name])
        runs = Counter((w, t) for w, t, _ in stack.teams["content"].started)
        assert len(runs) == 1000 and set(runs.values()) == {1}, "every task ran once, as its own tenant"
        assert {(w, t) for w, t in runs} == {(w, t) for t, ids in submitted.items() for w in ids}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_waiting_tasks_start_in_priority_order(backend: str) -> None:
    gate = asyncio.Event()
    async with (
        queue_settings(backend, queue_capacity=1) as settings,
        queue_stack(settings, gate=gate) as stack,
    ):
        acme = await stack.tenant("acme")
        await submit_many(stack, acme, [S.PRIORITY_LOW])  # holds the one slot until the gate opens
        await until(lambda: bool(stack.teams["content"].started))
        waiting = await submit_many(stack, acme, PRIORITIES * 3, batch=1)
        gate.set()
        await wait_finished(stack.stub, acme, waiting)
        priority_of = dict(zip(waiting, PRIORITIES * 3, strict=True))
        started = [priority_of[w] for w in stack.teams["content"].order()[1:]]
        assert started == sorted(started, reverse=True), started  # urgent first, low last


@pytest.mark.parametrize("backend", BACKENDS)
async def test_another_tenants_urgent_task_starts_within_one_slot_of_a_thousand_queued_ahead(
    backend: str,
) -> None:
    async with (
        queue_settings(backend, queue_capacity=2) as settings,
        queue_stack(settings, delay_s=0.05) as stack,
    ):
        acme, globex = await stack.tenant("acme"), await stack.tenant("globex")
        await submit_many(stack, acme, [S.PRIORITY_NORMAL] * 1000, batch=100)
        depth = {
            "priority": "PRIORITY_NORMAL",
            "tenant": "acme",
        }  # exported for dashboards (KEDA reads the broker)
        await until(lambda: (REGISTRY.get_sample_value("marketing_queue_depth", depth) or 0) > 900)
        [urgent] = await submit_many(stack, globex, [S.PRIORITY_URGENT])
        submitted_at = time.monotonic()  # the urgent task is durably queued
        [normal] = await submit_many(stack, globex, [S.PRIORITY_NORMAL])
        normal_at = time.monotonic()
        await wait_finished(stack.stub, globex, [urgent, normal], timeout_s=30)
        team = stack.teams["content"]
        began = {w: at for w, _, at in team.started}
        acme_between = [at for _, t, at in team.started if t == "acme" and submitted_at < at < began[urgent]]
        # Briefs arrive a moment after their task is taken: at most one acme task per slot, taken before the
        # urgent one was queued, reaches the team after it; then the urgent task has the next free slot.
        assert len(acme_between) <= settings.queue_capacity, "the urgent task took the next free slot"
        acme_before_normal = [
            at for _, t, at in team.started if t == "acme" and normal_at < at < began[normal]
        ]
        # Same priority, fair shares: globex takes a slot as soon as it runs fewer tasks than acme (embedded: while
        # its urgent task runs, acme may take the slot that frees first); on RabbitMQ it waits behind at most acme's
        # first QUEUE_FAIR_BURST tasks, which were queued at the upper level of the priority.
        allowed = settings.queue_capacity + (1 if backend == "embedded" else settings.queue_fair_burst)
        assert len(acme_before_normal) <= allowed
        assert sum(t == "acme" for _, t, _ in team.started) < 100, "globex did not wait for acme's backlog"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_tenants_running_cap_holds_while_other_tenants_use_the_free_slots(backend: str) -> None:
    async with (
        queue_settings(backend, queue_capacity=4, queue_tenant_max_running=1) as settings,
        queue_stack(settings, delay_s=0.1) as stack,
    ):
        acme, globex = await stack.tenant("acme"), await stack.tenant("globex")
        acme_ids = await submit_many(stack, acme, [S.PRIORITY_NORMAL] * 4)
        globex_ids = await submit_many(stack, globex, [S.PRIORITY_NORMAL] * 2)
        finished = await wait_finished(stack.stub, acme, acme_ids, timeout_s=30)
        finished.update(await wait_finished(stack.stub, globex, globex_ids, timeout_s=30))
        assert {w.status for w in finished.values()} == {S.WORKFLOW_STATUS_COMPLETED}
        assert stack.teams["content"].most_running == {"acme": 1, "globex": 1}
        runs = Counter(w for w, _, _ in stack.teams["content"].started)
        assert set(runs.values()) == {1} and len(runs) == 6


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_poison_task_is_dead_lettered_after_the_limit_and_completes_once_requeued_after_the_fix(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = {"on": True}
    run_to_end = WorkflowRunner.run_to_end

    async def poisoned(self: WorkflowRunner, tenant_id: str, workflow_id: str) -> S.Workflow:
        record = await self.store.get_workflow(tenant_id, workflow_id)
        if broken["on"] and record is not None and "POISON" in record.task:
            raise RuntimeError("the task trips a bug")
        return await run_to_end(self, tenant_id, workflow_id)

    monkeypatch.setattr(WorkflowRunner, "run_to_end", poisoned)
    async with queue_settings(backend, queue_max_deliveries=3) as settings, queue_stack(settings) as stack:
        acme, globex = await stack.tenant("acme"), await stack.tenant("globex")
        poison = await stack.stub.SubmitTask(
            S.SubmitTaskRequest(task=f"{ONE_TEAM_TASK} POISON"), metadata=acme
        )
        healthy = await submit_many(stack, acme, [S.PRIORITY_NORMAL])
        letters = await _dead_letters(stack, acme)
        assert [d.workflow_id for d in letters] == [poison.workflow.id]
        assert letters[0].deliveries == 3 and "the task trips a bug" in letters[0].reason
        assert letters[0].tenant_id == "acme" and letters[0].HasField("dead_time")
        shelved = await stack.stub.GetWorkflow(
            S.GetWorkflowRequest(workflow_id=poison.workflow.id), metadata=acme
        )
        assert shelved.workflow.status == S.WORKFLOW_STATUS_QUEUED
        assert shelved.workflow.summary.startswith("dead-lettered: delivered 3 times")
        assert (await wait_finished(stack.stub, acme, healthy))[
            healthy[0]
        ].status == S.WORKFLOW_STATUS_COMPLETED

        platform = await stack.tenant(settings.auth_platform_tenant)  # the platform's administrators see all
        seen = (await stack.stub.ListDeadLetters(S.ListDeadLettersRequest(), metadata=platform)).dead_letters
        assert [d.workflow_id for d in seen] == [poison.workflow.id]

        # the other tenant sees none of it
        assert not (
            await stack.stub.ListDeadLetters(S.ListDeadLettersRequest(), metadata=globex)
        ).dead_letters
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.stub.RequeueDeadLetter(
                S.RequeueDeadLetterRequest(workflow_id=poison.workflow.id), metadata=globex
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

        broken["on"] = False  # the fix is deployed
        requeued = await stack.stub.RequeueDeadLetter(
            S.RequeueDeadLetterRequest(workflow_id=poison.workflow.id), metadata=acme
        )
        assert requeued.workflow.status == S.WORKFLOW_STATUS_QUEUED and requeued.workflow.deliveries == 0
        finished = await wait_finished(stack.stub, acme, [poison.workflow.id])
        assert finished[poison.workflow.id].status == S.WORKFLOW_STATUS_COMPLETED
        assert finished[poison.workflow.id].deliveries == 1
        assert [w for w, _, _ in stack.teams["content"].started].count(poison.workflow.id) == 1
        assert not (await stack.stub.ListDeadLetters(S.ListDeadLettersRequest(), metadata=acme)).dead_letters


async def _dead_letters(stack: QueueStack, metadata: object, timeout_s: float = 20) -> list[S.DeadLetter]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = await stack.stub.ListDeadLetters(S.ListDeadLettersRequest(), metadata=metadata, timeout=5)
        if answer.dead_letters:
            return list(answer.dead_letters)
        await asyncio.sleep(0.1)
    raise AssertionError("nothing was dead-lettered")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_webhooks_are_signed_retried_with_backoff_and_stop_on_the_first_2xx(backend: str) -> None:
    secret = "whsec-test"
    overrides = {"webhook_secret": secret, "webhook_allow_private_networks": True, "webhook_backoff_s": 0.1}
    with WebhookReceiver([500, 503, 204]) as receiver:
        async with queue_settings(backend, **overrides) as settings, queue_stack(settings) as stack:
            acme = await stack.tenant("acme")
            submitted = await stack.stub.SubmitTask(
                S.SubmitTaskRequest(task=ONE_TEAM_TASK, notify_url=receiver.url, request_id="hook-1"),
                metadata=acme,
            )
            workflow_id = submitted.workflow.id
            await until(lambda: len(receiver.received) >= 3)
            await asyncio.sleep(0.6)  # a fourth attempt would have come by now
            store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
            try:
                attempts = await TaskStore(store.db).webhook_attempts("acme", workflow_id)
            finally:
                await store.close()

    assert len(receiver.received) == 3
    for request in receiver.received:
        assert verify(secret, request.headers[SIGNATURE_HEADER.lower()], request.body)
        assert not verify("another-secret", request.headers[SIGNATURE_HEADER.lower()], request.body)
        assert not verify(secret, request.headers[SIGNATURE_HEADER.lower()], request.body + b" ")
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # one event, three attempts
    event = json.loads(receiver.received[0].body)
    assert event["type"] == "workflow.completed" and event["data"]["workflow_id"] == workflow_id
    assert event["data"]["status"] == "WORKFLOW_STATUS_COMPLETED" and event["data"]["request_id"] == "hook-1"
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 503), (3, 204)]
