"""The durable task intake of one supervisor replica: SubmitTask, the delivery handler, WatchWorkflow, dead letters.

Exactly once: a submitted task is recorded (``queued_tasks`` plus its ``queued`` workflow) before SubmitTask
answers, and its delivery is acknowledged only after the workflow is durably recorded as finished. A redelivered
task whose workflow finished is acknowledged without running again; one whose workflow is running elsewhere is
taken over only when that replica stopped heart-beating (``TaskStore.take_over``), then resumed from its last
checkpoint, and the idempotent team calls replay instead of running twice. Until then the delivery waits for the
other run to finish.

Webhooks (at least once, ``Webhook-Id`` stable): ``workflow.completed`` is sent by the replica that records a finish
of a submitted workflow with a ``notify_url`` (the runner's finish hook), whatever drove it there: its delivery, a
review decision (on the deciding replica, after any round), ResumeWorkflow after a budget stop, a cancellation.
Its id names the finish (``<workflow id>/workflow.completed/<complete time>``), so each finish is announced once.
A redelivery that finds the workflow finished sends the same event again only when no attempt of it was recorded
(the replica died in between), and the maintenance loop sends the recent finishes no replica ever tried (a finish
after a review decision has no delivery to come back: ``recover_completions``). ``review.required`` is sent when a
review opens (the review desk's notifier).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from marketing.supervisor.v1 import supervisor_pb2
from marketing.team.v1 import team_pb2

from common.auth.principal import Principal
from common.config import Settings
from common.errors import FieldViolation, InvalidArgument, NotFound
from common.logging import get_logger
from common.metrics import QUEUE_DELIVERIES, QUEUE_DEPTH
from common.storage.database import ALL_TENANTS
from common.storage.store import QUEUE_OWNER_PREFIX, RUNNING, TERMINAL
from common.webhooks import REVIEW_REQUIRED, WORKFLOW_COMPLETED, WebhookSender
from supervisor_service.budgets import Admission
from supervisor_service.events import EventLog
from supervisor_service.limits import unlimited_source
from supervisor_service.queue.backends import Backend, Delivery
from supervisor_service.queue.store import WORKFLOW_QUEUED, NewTask, QueuedTask, TaskStore, TenantCap
from supervisor_service.workflows import STALE_AFTER_HEARTBEATS, WorkflowRunner

log = get_logger(__name__)

TERMINAL_GRACE_WAITS = 4  # a finished workflow's `done` event may land just after its status
RECOVERY_WINDOW_S = 3600.0  # finishes younger than this whose webhook was never tried are sent by any replica
RECOVERY_EVERY_S = 30.0


def fixed_cap(settings: Settings, quota_cap: TenantCap | None = None) -> TenantCap:
    """The per-tenant running cap: the tenant's ``concurrent_workflows`` quota when ``quota_cap`` knows one, else
    ``QUEUE_TENANT_MAX_RUNNING`` for every tenant (0: unlimited)."""

    async def cap(tenant_id: str) -> int | None:
        own = await quota_cap(tenant_id) if quota_cap is not None else None
        return own or settings.queue_tenant_max_running or None

    return cap


class TaskIntake:
    """SubmitTask and its deliveries on this replica, WatchWorkflow and the dead letters."""

    def __init__(
        self,
        runner: WorkflowRunner,
        tasks: TaskStore,
        events: EventLog,
        backend: Backend,
        settings: Settings,
        cap: TenantCap,
        webhooks: WebhookSender | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.admission = admission or Admission(unlimited_source(), None, settings)
        self.runner = runner
        self.tasks = tasks
        self.events = events
        self.backend = backend
        self.settings = settings
        self.cap = cap
        self.webhooks = webhooks
        self._background: set[asyncio.Task[None]] = set()
        self._metrics: asyncio.Task[None] | None = None
        self._active: set[str] = set()
        self._sending: set[str] = set()  # webhook delivery ids this replica is sending
        self._recovered_at = 0.0  # monotonic time of the last sweep for unannounced finishes

    async def start(self) -> None:
        """Start taking deliveries and exporting the queue depth."""
        await self.backend.start(self.handle)
        self._metrics = asyncio.get_running_loop().create_task(self._maintain(), name="queue-maintenance")

    async def stop(self) -> None:
        """Stop taking deliveries; running ones stay running in the records, to be redelivered elsewhere."""
        if self._metrics is not None:
            self._metrics.cancel()
        await self.backend.stop()
        try:  # the interrupted workflows may run elsewhere at once (else after their beat goes stale)
            await self.tasks.release_workflows(self.owner)
        except Exception:
            log.exception("queue_release_failed")
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.webhooks is not None:
            await self.webhooks.aclose()
        await self.events.aclose()

    # --- submit -----------------------------------------------------------------------------------------------

    async def submit(
        self, caller: Principal, request: supervisor_pb2.SubmitTaskRequest
    ) -> tuple[supervisor_pb2.Workflow, bool]:
        """Record and enqueue a task; returns its workflow and whether it is new (False: a repeated request id)."""
        priority = request.priority or supervisor_pb2.PRIORITY_NORMAL
        if request.request_id and (
            earlier := await self.tasks.by_request(caller.tenant_id, request.request_id)
        ):
            workflow, _ = await self.runner.get(caller.tenant_id, earlier.id)
            return self._decorated(workflow, earlier), False
        # Counted in the tenant's tasks of the day and checked against its monthly quota now (never refused for
        # capacity); how many run at once is the queue's per-tenant cap.
        admitted = await self.admission.admit(caller.tenant_id, request.budget, take_slot=False)
        workflow_id = str(uuid.uuid4())
        snapshot = supervisor_pb2.Workflow(
            id=workflow_id,
            task=request.task,
            status=supervisor_pb2.WORKFLOW_STATUS_QUEUED,
            priority=priority,
            request_id=request.request_id,
            summary="queued",
            budget=admitted.budget.to_proto(),
            approval_policy=request.approval_policy,
        )
        snapshot.create_time.FromDatetime(datetime.now(UTC))
        new = NewTask(
            caller.tenant_id,
            workflow_id,
            request.task,
            priority,
            request.request_id,
            request.notify_url,
            caller.actor,
        )
        task, created = await self.tasks.add(new, snapshot.SerializeToString())
        if created:
            try:
                await self.backend.publish(task)
            except Exception:  # recorded: the maintenance loop publishes it again
                log.exception("task_publish_failed", workflow_id=task.id)
            log.info("task_submitted", workflow_id=task.id, priority=priority)
        workflow, _ = await self.runner.get(caller.tenant_id, task.id)
        return self._decorated(workflow, task), created

    @staticmethod
    def _decorated(workflow: supervisor_pb2.Workflow, task: QueuedTask) -> supervisor_pb2.Workflow:
        workflow.priority = task.priority  # type: ignore[assignment]
        workflow.request_id = task.request_id
        workflow.deliveries = task.deliveries
        return workflow

    async def describe(self, tenant_id: str, workflow: supervisor_pb2.Workflow) -> supervisor_pb2.Workflow:
        """The workflow with its queue fields (priority, request id, deliveries) when it was submitted."""
        task = await self.tasks.get(tenant_id, workflow.id)
        return workflow if task is None else self._decorated(workflow, task)

    # --- deliveries -------------------------------------------------------------------------------------------

    async def handle(self, delivery: Delivery) -> None:
        """Run one delivered task to its end and acknowledge it (or retry, park, dead-letter it)."""
        task = delivery.task
        if task.deliveries > self.settings.queue_max_deliveries:
            reason = f"delivered {task.deliveries - 1} times without finishing; last error: {task.last_error or '-'}"
            await self._shelve(task, reason)  # first: once listed, the dead letter's workflow shows why
            await delivery.dead_letter(reason)
            QUEUE_DELIVERIES.labels(outcome="dead_lettered").inc()
            log.warning("task_dead_lettered", workflow_id=task.id, reason=reason)
            return
        limit = await self.cap(task.tenant_id)
        if limit and await self.tasks.running_of(task.tenant_id) > limit:  # this delivery counts itself
            await delivery.park()
            QUEUE_DELIVERIES.labels(outcome="parked").inc()
            return
        found_finished: supervisor_pb2.Workflow | None = None
        try:
            workflow, ran = await self._execute(task)
            if not ran:
                found_finished = workflow
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if (workflow := await self._finished(task)) is None:  # not cancelled or finished meanwhile
                log.exception("task_delivery_failed", workflow_id=task.id, delivery=task.deliveries)
                await self.tasks.release_workflows(self.owner, task.id)
                await delivery.retry(f"{type(exc).__name__}: {exc}"[:1000])
                QUEUE_DELIVERIES.labels(outcome="retried").inc()
                return
        await delivery.ack()
        QUEUE_DELIVERIES.labels(outcome="finished").inc()
        # A finish this delivery drove was announced by the runner's finish hook; a workflow found finished (an
        # earlier delivery's replica died after recording it, or it was cancelled while queued) is announced
        # again only when no attempt of that finish's webhook was ever recorded.
        if (
            found_finished is not None
            and found_finished.status != supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW
        ):
            self._announce(task, found_finished, unless_recorded=True)

    async def _shelve(self, task: QueuedTask, reason: str) -> None:
        """Show the dead letter's workflow as queued again (waiting for RequeueDeadLetter), with the reason."""
        record = await self.runner.store.get_workflow(task.tenant_id, task.id)
        if record is None or record.status in TERMINAL:
            return
        workflow = supervisor_pb2.Workflow.FromString(record.snapshot)
        workflow.status = supervisor_pb2.WORKFLOW_STATUS_QUEUED
        workflow.summary = f"dead-lettered: {reason}"
        await self.tasks.shelve_workflow(task.tenant_id, task.id, workflow.SerializeToString())

    async def _finished(self, task: QueuedTask) -> supervisor_pb2.Workflow | None:
        """The task's workflow when it is finished (CancelWorkflow or DeleteWorkflow stopped its run), else None."""
        record = await self.runner.store.get_workflow(task.tenant_id, task.id)
        if record is None or record.status not in TERMINAL:
            return None
        return supervisor_pb2.Workflow.FromString(record.snapshot)

    @property
    def owner(self) -> str:
        """The owner of the workflows this replica runs for the queue."""
        return QUEUE_OWNER_PREFIX + self.runner.owner

    async def _execute(self, task: QueuedTask) -> tuple[supervisor_pb2.Workflow | None, bool]:
        """Run the delivered task's workflow to its end (from its checkpoint after an earlier delivery) and return
        it with True; a finished one is returned as it is, an erased one is None (both with False: not run here).

        The broker (or the lease) gives a task to one replica at a time, but a duplicate message (published again
        because its confirm was lost) or a replica cut off from the broker could still deliver it twice: the
        workflow is taken only when it is queued, or running here or under an owner that stopped heart-beating.
        Until then this delivery waits for the other run to finish (a dead replica's beat goes stale within
        three ``WORKFLOW_HEARTBEAT_S``)."""
        while task.id in self._active:  # an earlier delivery of it here is still unwinding  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stale_s = self.settings.workflow_heartbeat_s * STALE_AFTER_HEARTBEATS
        while True:
            record = await self.runner.store.get_workflow(task.tenant_id, task.id)
            if record is None:  # erased (DeleteWorkflow, retention): nothing to run
                return None, False
            if record.status in TERMINAL:
                return supervisor_pb2.Workflow.FromString(record.snapshot), False
            if await self.tasks.hold_workflow(task.tenant_id, task.id, self.owner, stale_s):
                break
            await asyncio.sleep(min(self.settings.workflow_heartbeat_s / 2, 1.0))
        if record.status == RUNNING:
            log.info("task_taken_over", workflow_id=task.id, previous_owner=record.owner)
        self._active.add(task.id)
        try:
            return await self.runner.run_to_end(task.tenant_id, task.id), True
        finally:
            self._active.discard(task.id)

    # --- webhooks ---------------------------------------------------------------------------------------------

    async def workflow_finished(self, tenant_id: str, workflow: supervisor_pb2.Workflow) -> None:
        """The runner's finish hook: a submitted workflow with a ``notify_url`` that this replica just recorded
        finished gets its ``workflow.completed`` webhook (in the background: signed, retried, recorded)."""
        if self.webhooks is None:
            return
        task = await self.tasks.get(tenant_id, workflow.id)
        if task is not None and task.notify_url:
            self._announce(task, workflow)

    async def recover_completions(self, now: datetime | None = None) -> int:
        """Send the ``workflow.completed`` of finishes (in the last ``RECOVERY_WINDOW_S``) that no replica ever
        tried: the one that recorded the finish died before its first attempt was recorded. A finish gets a
        grace of twice ``WEBHOOK_TIMEOUT_S`` (a first attempt is recorded when its POST ends). Returns how many."""
        if self.webhooks is None:
            return 0
        now = now or datetime.now(UTC)
        grace = timedelta(seconds=2 * self.settings.webhook_timeout_s + self.settings.workflow_heartbeat_s)
        due = await self.tasks.unannounced_finishes(
            now - timedelta(seconds=RECOVERY_WINDOW_S), now - grace, WORKFLOW_COMPLETED
        )
        for task, snapshot in due:
            log.info("webhook_recovered", workflow_id=task.id, tenant_id=task.tenant_id)
            self._announce(task, supervisor_pb2.Workflow.FromString(snapshot), unless_recorded=True)
        return len(due)

    @staticmethod
    def completion_id(workflow: supervisor_pb2.Workflow) -> str:
        """The ``Webhook-Id`` of a finish: the workflow and the time its finish was recorded (a workflow resumed
        after a budget stop finishes again: a new event)."""
        finish = workflow.complete_time.ToJsonString() if workflow.HasField("complete_time") else "-"
        return f"{workflow.id}/{WORKFLOW_COMPLETED}/{finish}"

    def _announce(
        self, task: QueuedTask, workflow: supervisor_pb2.Workflow, unless_recorded: bool = False
    ) -> None:
        if task.notify_url and self.webhooks is not None:
            self._in_background(self._notify(task, workflow, unless_recorded), f"webhook-{task.id}")

    async def _notify(
        self, task: QueuedTask, workflow: supervisor_pb2.Workflow, unless_recorded: bool = False
    ) -> None:
        assert self.webhooks is not None
        delivery_id = self.completion_id(workflow)
        if delivery_id in self._sending:  # this replica sends it already
            return
        self._sending.add(delivery_id)
        try:
            if unless_recorded and await self.tasks.webhook_recorded(task.tenant_id, delivery_id):
                return
            await self._send_completion(task, workflow, delivery_id)
        finally:
            self._sending.discard(delivery_id)

    async def _send_completion(
        self, task: QueuedTask, workflow: supervisor_pb2.Workflow, delivery_id: str
    ) -> None:
        assert self.webhooks is not None
        payload = {
            "workflow_id": workflow.id,
            "status": supervisor_pb2.WorkflowStatus.Name(workflow.status),
            "summary": workflow.summary,
            "task": workflow.task,
            "request_id": task.request_id,
            "priority": supervisor_pb2.Priority.Name(task.priority),
            "failed_teams": list(workflow.failed_teams),
            "artifacts": [
                {"id": a.id, "team": a.team, "kind": team_pb2.ArtifactKind.Name(a.kind), "title": a.title}
                for a in workflow.artifacts
            ],
            "cost_usd": workflow.usage.cost_usd,
        }
        await self.webhooks.send(
            task.notify_url,
            WORKFLOW_COMPLETED,
            payload,
            subject=task.id,
            tenant_id=task.tenant_id,
            delivery_id=delivery_id,
        )

    async def review_pending(self, tenant_id: str, review_id: str, summary: Mapping[str, Any]) -> None:
        """The review desk's notifier: a submitted task's pending review is announced to its ``notify_url``
        (``review.required``, signed and retried like the completion), in the background; never raises."""
        if self.webhooks is None:
            return
        try:
            task = await self.tasks.get(tenant_id, str(summary.get("workflow_id", "")))
        except Exception:
            log.exception("review_webhook_lookup_failed", review_id=review_id)
            return
        if task is None or not task.notify_url:
            return
        self._in_background(self._announce_review(task, review_id, summary), f"review-webhook-{review_id}")

    async def _announce_review(self, task: QueuedTask, review_id: str, summary: Mapping[str, Any]) -> None:
        assert self.webhooks is not None
        await self.webhooks.send(
            task.notify_url,
            REVIEW_REQUIRED,
            {"review_id": review_id, "request_id": task.request_id, **summary},
            subject=task.id,
            tenant_id=task.tenant_id,
            delivery_id=f"{task.id}/{REVIEW_REQUIRED}/{review_id}",
        )

    def _in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _maintain(self) -> None:
        """Export the queue depth; publish again what the broker never confirmed."""
        while True:
            try:
                await self.tasks.renew(self.runner.owner, self.settings.queue_lease_s)
                await self.tasks.heartbeat_workflows(self.owner)
                QUEUE_DEPTH.clear()
                for tenant_id, priority, count in await self.tasks.depth():
                    QUEUE_DEPTH.labels(priority=supervisor_pb2.Priority.Name(priority), tenant=tenant_id).set(
                        count
                    )
                if self.settings.broker_url:
                    for task in await self.tasks.unpublished(older_than_s=self.settings.queue_lease_s):
                        await self.backend.publish(task)
                if time.monotonic() - self._recovered_at >= RECOVERY_EVERY_S:
                    self._recovered_at = time.monotonic()
                    await self.recover_completions()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue_maintenance_failed")
            await asyncio.sleep(self.settings.workflow_heartbeat_s)

    # --- watch ------------------------------------------------------------------------------------------------

    async def watch(
        self, tenant_id: str, workflow_id: str, cursor: int
    ) -> AsyncIterator[supervisor_pb2.WatchWorkflowResponse]:
        """The workflow's events after ``cursor``, then live ones, until ``done``.

        Raises:
            NotFound: No workflow of this tenant has that id.
        """
        await self.runner.get(tenant_id, workflow_id)  # NotFound for another tenant's
        grace = 0
        async with self.events.changes(workflow_id) as changes:
            while True:
                changes.arm()
                batch = await self.events.after(tenant_id, workflow_id, cursor)
                for seq, event in batch:
                    cursor = seq
                    event.sequence = seq
                    yield supervisor_pb2.WatchWorkflowResponse(cursor=str(seq), event=event)
                    if event.HasField("done"):
                        return
                if batch:
                    continue
                record = await self.runner.store.get_workflow(tenant_id, workflow_id)
                if record is None:
                    raise NotFound(f"workflow {workflow_id} not found")
                if record.status in TERMINAL and (grace := grace + 1) > TERMINAL_GRACE_WAITS:
                    # finished without a stored `done` (cancelled while queued, or before events were stored)
                    done = supervisor_pb2.StreamTaskResponse(
                        workflow_id=workflow_id,
                        sequence=cursor + 1,
                        done=supervisor_pb2.Workflow.FromString(record.snapshot),
                    )
                    yield supervisor_pb2.WatchWorkflowResponse(cursor=str(cursor), event=done)
                    return
                if grace:  # finished: its `done` is being stored (a wake-up) or never will be (a poll)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changes.wait(), self.settings.watch_poll_s)
                else:
                    await changes.wait()

    # --- dead letters -----------------------------------------------------------------------------------------

    def _scope(self, caller: Principal) -> str:
        """Every tenant's dead letters for the platform's administrators, else the caller's tenant's."""
        return ALL_TENANTS if caller.tenant_id == self.settings.auth_platform_tenant else caller.tenant_id

    async def dead_letters(
        self, caller: Principal, page_size: int, page_token: str
    ) -> tuple[list[supervisor_pb2.DeadLetter], str]:
        """A page of dead letters the caller may see, newest first."""
        tasks, token = await self.tasks.dead_letters(self._scope(caller), page_size, page_token)
        letters = []
        for task in tasks:
            letter = supervisor_pb2.DeadLetter(
                workflow_id=task.id,
                tenant_id=task.tenant_id,
                task=task.task,
                priority=task.priority,  # type: ignore[arg-type]
                reason=task.last_error,
                deliveries=max(task.deliveries - 1, 0),  # the last delivery only dead-lettered it
            )
            if task.dead_at is not None:
                letter.dead_time.FromDatetime(task.dead_at)
            letters.append(letter)
        return letters, token

    async def requeue(self, caller: Principal, workflow_id: str) -> supervisor_pb2.Workflow:
        """Put a dead letter back in the queue with a fresh delivery count.

        Raises:
            NotFound: The caller may see no dead letter with that id.
        """
        tenant_id: str | None = caller.tenant_id
        if self._scope(caller) == ALL_TENANTS:
            tenant_id = await self.tasks.tenant_of(workflow_id)
        task = await self.tasks.requeue(tenant_id, workflow_id) if tenant_id else None
        if task is None:
            raise NotFound(f"dead letter {workflow_id} not found")
        await self.backend.publish(task)
        log.info("dead_letter_requeued", workflow_id=workflow_id, by=caller.actor)
        workflow, _ = await self.runner.get(task.tenant_id, workflow_id)
        return self._decorated(workflow, task)

    async def cancel_queued(self, tenant_id: str, workflow_id: str) -> None:
        """CancelWorkflow of a task that has not started: it never will."""
        record = await self.runner.store.get_workflow(tenant_id, workflow_id)
        if record is None or record.status != WORKFLOW_QUEUED:
            return
        workflow = supervisor_pb2.Workflow.FromString(record.snapshot)
        workflow.status = supervisor_pb2.WORKFLOW_STATUS_CANCELLED
        workflow.summary = "cancelled before it started"
        workflow.complete_time.FromDatetime(datetime.now(UTC))
        if await self.tasks.cancel_queued(tenant_id, workflow_id, workflow.SerializeToString()):
            await self.workflow_finished(tenant_id, workflow)

    async def forget(self, tenant_id: str, workflow_id: str) -> int:
        """Erase the workflow's queue entry, webhook deliveries and events (a forget hook of the runner)."""
        return await self.tasks.forget(tenant_id, workflow_id) + await self.events.delete(
            tenant_id, workflow_id
        )


def parse_cursor(cursor: str) -> int:
    """A WatchWorkflow cursor (empty: from the start), or INVALID_ARGUMENT."""
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 12:
        raise InvalidArgument([FieldViolation("cursor", "must be a cursor from a WatchWorkflowResponse")])
    return int(cursor)
