"""Durable workflows: records, checkpoints, resume after a crash, cancellation.

Every workflow belongs to the tenant of the caller that started it: its records carry the tenant, every query
filters by it (another tenant's workflow is NOT_FOUND), and its checkpoints live in LangGraph's checkpointer under
thread id ``<tenant>/<workflow id>``. Every workflow is recorded when it starts and saved after each graph step
(snapshot of the Workflow message plus one agent-execution row per team step, written once). Each replica
heart-beats the workflows it runs; a running workflow whose owner stopped heart-beating is claimed by exactly one
replica and resumed from its last checkpoint, acting as ``system_principal(tenant)`` so that its team calls carry
the right tenant. Team calls carry idempotency keys, so a resumed team call replays the team's stored result
instead of running again. The tenant's profile is read once per run and kept in the run's config (not in the
checkpointed state), so a profile changed in between applies to the next run.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from marketing.supervisor.v1 import supervisor_pb2
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2

from common.agents.convert import usage_from_proto
from common.agents.state import StepKind
from common.auth.principal import acting_as, system_principal
from common.budget import Budget, MonthlyQuota
from common.config import Settings
from common.errors import BudgetExceededError, Cancelled, FailedPrecondition, NotFound
from common.llm.usage import EMPTY_USAGE, PriceTable, UsageLedger, merge_usage
from common.logging import get_logger
from common.metrics import TASKS, WORKFLOWS_IN_FLIGHT
from common.storage import AgentExecution, Store, WorkflowRecord
from common.storage.store import BUDGET_EXCEEDED, QUEUE_OWNER_PREFIX, RUNNING, TERMINAL
from common.telemetry import ModelCallSpans
from common.text import clip
from supervisor_service.budgets import (
    LIMITS_KEY,
    Admission,
    Admitted,
    RunLimits,
    TeamBudgetStop,
    count_stop,
    finished_drive,
    mark_stopped,
)
from supervisor_service.review_store import ReviewStore
from supervisor_service.reviews import OpenedReview, ReviewDesk
from supervisor_service.state import TeamRunData, WorkflowState, initial_state
from supervisor_service.views import build_workflow, routing_step_to_proto, team_run_to_proto

log = get_logger(__name__)

AWAITING_REVIEW = "awaiting_review"
STALE_AFTER_HEARTBEATS = 3
EVENT_BUFFER = 256  # events a slow reader may lag behind before the graph waits for it

EventSink = Callable[[str, supervisor_pb2.StreamTaskResponse], Awaitable[Any]]
"""``on_event(tenant_id, event)``: called with every event of every run, before the caller sees it."""

ProfileSource = Callable[[str], Awaitable[tenant_pb2.TenantProfile]]
"""``profile_of(tenant_id)``: the tenant's profile (brand, platforms, models, tools, knowledge documents)."""


async def empty_profile(tenant_id: str) -> tenant_pb2.TenantProfile:
    """The profile of every tenant when no tenant store is wired: empty (the deployment's defaults)."""
    return tenant_pb2.TenantProfile()


def thread_id_of(tenant_id: str, workflow_id: str) -> str:
    """The LangGraph checkpoint thread of a workflow: ``<tenant>/<workflow id>``."""
    return f"{tenant_id}/{workflow_id}"


def status_name(status: int) -> str:
    """``completed``, ``partial``, ... from a WorkflowStatus value."""
    return supervisor_pb2.WorkflowStatus.Name(status).removeprefix("WORKFLOW_STATUS_").lower()


def executions_of(workflow_id: str, run: TeamRunData, upstream: list[str], task: str) -> list[AgentExecution]:
    """The agent-execution rows of one team run."""
    rows = []
    brief = json.dumps({"task": clip(task, 500), "upstream_artifacts": upstream})
    for step in run["steps"]:
        usage = step.get("usage") or EMPTY_USAGE
        routing = step["kind"] == StepKind.ROUTING
        rows.append(
            AgentExecution(
                workflow_id=workflow_id,
                team=run["team"],
                agent=step["agent"],
                step_index=step["index"],
                kind=step["kind"],
                input=brief,
                output=f"{step['next']}: {step['reasoning']}"
                if routing
                else f"{step['summary']} {step['artifact_ids']}",
                duration_ms=step["duration_ms"],
                success=not step["error"],
                error=step["error"],
                input_tokens=usage["input_tokens"],
                output_tokens=usage["output_tokens"],
                cost_usd=usage["cost_usd"],
            )
        )
    return rows


class WorkflowRunner:
    """Runs, saves, resumes and cancels workflows for one supervisor replica."""

    def __init__(
        self,
        graph: CompiledStateGraph,
        store: Store,
        settings: Settings,
        on_abandoned: Callable[[supervisor_pb2.Workflow], Awaitable[Any]] | None = None,
        profile_of: ProfileSource = empty_profile,
    ) -> None:
        """
        Args:
            graph: The compiled supervisor graph (with its checkpointer).
            store: The workflow records.
            settings: Process settings.
            on_abandoned: Called in the background, acting as the workflow's caller, with a workflow cancelled
                because its caller went away (CancelWorkflow callers handle their own follow-up).
            profile_of: The tenant's profile, read once per run of a workflow and sent with every brief.
        """
        self.graph = graph
        self.store = store
        self.settings = settings
        self.on_abandoned = on_abandoned
        self.profile_of = profile_of
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.prices = PriceTable(settings.llm_prices)
        self.recursion_limit = settings.supervisor_max_steps * 2 + 4
        self.running: dict[str, asyncio.Task[Any]] = {}
        self.cancel_requested: set[str] = set()
        self.stopping = False
        self._background: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        # The review desk, once wired (supervisor_service.review_servicer.build_reviews): workflows pause for review.
        self.reviews: ReviewDesk | None = None
        self.admission: Admission | None = None  # set by the service: quotas of claimed orphans
        self.on_event: EventSink | None = (
            None  # persists events for WatchWorkflow (supervisor_service/events.py)
        )
        # Erase what other modules keep for a workflow (its events, queue entry, webhook deliveries): forget() calls
        # each with (tenant id, workflow id); each returns the number of records it erased.
        self.forget_hooks: list[Callable[[str, str], Awaitable[int]]] = []
        # Told of every finish this replica records (tenant id, the finished workflow), wherever it happens: a run
        # or a resumed run (after a review decision, a takeover, ResumeWorkflow), a cancellation. The task intake
        # sends a submitted workflow's ``workflow.completed`` webhook from here. Must not raise (logged if they do).
        self.finish_hooks: list[Callable[[str, supervisor_pb2.Workflow], Awaitable[Any]]] = []

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start heart-beating and claiming orphaned workflows."""
        self._maintenance = asyncio.get_running_loop().create_task(
            self._maintain(), name="workflow-maintenance"
        )

    async def prepare_stop(self) -> None:
        """Called before the server drains: interrupted workflows stay RUNNING, to be resumed elsewhere."""
        self.stopping = True
        if self._maintenance is not None:
            self._maintenance.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _in_background(self, work: Awaitable[Any], name: str) -> None:
        """Run work in a task this runner cancels on stop."""
        task = asyncio.get_running_loop().create_task(_logged(work, name), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _maintain(self) -> None:
        interval = self.settings.workflow_heartbeat_s
        while True:
            try:
                await self.store.heartbeat(self.owner)
                if self.settings.resume_on_start:
                    for tenant_id, workflow_id in await self.store.claim_orphans(
                        self.owner, interval * STALE_AFTER_HEARTBEATS
                    ):
                        log.info("workflow_claimed", workflow_id=workflow_id, tenant_id=tenant_id)
                        self._in_background(
                            self._resume_claimed(tenant_id, workflow_id), f"resume-{workflow_id}"
                        )
            except Exception:  # a database hiccup must not stop the loop
                log.exception("workflow_maintenance_failed")
            await asyncio.sleep(interval)

    async def _resume_claimed(
        self, tenant_id: str, workflow_id: str, command: Command[Any] | None = None
    ) -> None:
        """Resume a claimed orphan (or a reviewed workflow, with ``command``) in the background, acting for its
        tenant (its team calls carry the tenant)."""
        with acting_as(system_principal(tenant_id)):
            try:
                async for _ in self._resume_events(tenant_id, workflow_id, command=command):
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("workflow_resume_failed", workflow_id=workflow_id)

    # --- running --------------------------------------------------------------------------------------------

    async def run(
        self,
        tenant_id: str,
        task: str,
        deadline: float,
        stream_text: bool,
        user_id: str = "",
        admitted: Admitted | None = None,
        approval_policy: str = "",
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        """Start a new workflow of a tenant and stream its events, ending with ``done``.

        The caller's principal must be bound (``acting_as``): the team calls carry its tenant and subject.
        ``admitted`` carries the task's budget and the tenant's monthly quota (None: no limits).
        """
        profile = await self.profile_of(tenant_id)
        workflow_id = str(uuid.uuid4())
        created = datetime.now(UTC)
        state = initial_state(workflow_id, task, deadline)
        state["approval_policy"] = approval_policy  # the task's own, if stricter than the tenant's
        snapshot = build_workflow(state, created, None, EMPTY_USAGE)
        budget, quota = (admitted.budget, admitted.quota) if admitted is not None else (Budget(), None)
        snapshot.budget.CopyFrom(budget.to_proto())
        await self.store.create_workflow(
            tenant_id, workflow_id, task, self.owner, snapshot.SerializeToString(), user_id=user_id
        )
        log.info("workflow_started", workflow_id=workflow_id, task_chars=len(task))
        ledger = UsageLedger(self.prices, "supervisor")
        run = _Drive(tenant_id, workflow_id, task, created, ledger, EMPTY_USAGE)
        run.limits = RunLimits.for_drive(budget, quota, ledger)
        async for event in self._drive(run, state, stream_text, deadline, profile):
            yield event

    async def _drive(
        self,
        run: _Drive,
        graph_input: WorkflowState | Command[Any] | None,
        stream_text: bool,
        deadline: float,
        profile: tenant_pb2.TenantProfile,
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        """Run the graph from ``graph_input`` (None: from the checkpoint) until ``deadline`` (Unix time), save
        progress after each team call, and stream the events; the last one is ``done`` with the finished
        workflow. The tenant and its profile travel in the run's config, for the briefs."""
        workflow_id, created = run.workflow_id, run.created
        run.config = {
            "recursion_limit": self.recursion_limit,
            "callbacks": [run.ledger, *(run.limits.guards() if run.limits else []), ModelCallSpans()],
            "configurable": {
                LIMITS_KEY: run.limits,
                "thread_id": thread_id_of(run.tenant_id, workflow_id),
                "tenant_id": run.tenant_id,
                "profile": profile,
                "stream_text": stream_text,
                "deadline": deadline,
            },
        }
        run.state = graph_input if isinstance(graph_input, dict) else {}
        run.recorded = {r["team"] for r in run.state.get("team_runs", [])}
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=EVENT_BUFFER)
        producer = self._start_graph(graph_input, run.config, queue, workflow_id)
        WORKFLOWS_IN_FLIGHT.inc()
        stopped: BudgetExceededError | None = None
        try:
            while (item := await self._next_item(queue, run)) is not None:
                mode, chunk = item
                if mode == "values":
                    run.state = chunk
                    if len(run.state.get("team_runs", [])) > len(run.recorded):  # a team call finished
                        await self._save_progress(run)
                elif (fields := event_fields(chunk)) is not None:
                    yield await self._emit(run, run.event(**fields))
        except BudgetExceededError as exc:  # the graph stopped before a model call; its checkpoint is kept
            stopped = exc
            await self._record_stop(run, exc)
        except (asyncio.CancelledError, GeneratorExit):
            await self._abandon(run, producer)
            raise
        finally:
            if not producer.done():
                producer.cancel()
            WORKFLOWS_IN_FLIGHT.dec()
            self.running.pop(workflow_id, None)
        if stopped is None and (paused := await self._pause_for_review(run)) is not None:
            workflow, opened = paused
            yield await self._emit(run, run.event(review_required=opened.event()))
            yield await self._emit(run, run.event(done=workflow))
            return
        workflow = await self._finish(
            run.tenant_id, workflow_id, run.state, created, run.routing_usage(), run=run, stopped=stopped
        )
        yield await self._emit(run, run.event(done=workflow))

    async def _emit(
        self, run: _Drive, event: supervisor_pb2.StreamTaskResponse
    ) -> supervisor_pb2.StreamTaskResponse:
        """Hand the event to the event sink (stored for watchers) before the caller sees it."""
        if self.on_event is not None:
            await self.on_event(run.tenant_id, event)
        return event

    async def run_to_end(self, tenant_id: str, workflow_id: str) -> supervisor_pb2.Workflow:
        """Run a workflow this replica holds (a submitted one it just started, or one it took over) from its
        checkpoint, or from the start when it has none, acting for its tenant; returns it finished."""
        workflow = None
        with acting_as(system_principal(tenant_id)):
            async for event in self._resume_events(tenant_id, workflow_id):
                if event.HasField("done"):
                    workflow = event.done
        assert workflow is not None
        return workflow

    async def _record_stop(self, run: _Drive, stop: BudgetExceededError) -> None:
        """Count a budget stop; a team's stop records its finished steps, once (a resume finds them recorded)."""
        count_stop(stop)
        if isinstance(stop, TeamBudgetStop):
            upstream = [a["id"] for a in run.state.get("artifacts", [])]
            await self.store.record_executions(
                run.tenant_id, executions_of(run.workflow_id, stop.run, upstream, run.task)
            )

    async def _pause_for_review(self, run: _Drive) -> tuple[supervisor_pb2.Workflow, OpenedReview] | None:
        """When the graph stopped at a team's review: open the review and record the workflow AWAITING_REVIEW
        (its checkpoint keeps the rest). A review decided already (the graph paused again after a restart) drives
        the workflow on at once, with the decision from the review's record."""
        if self.reviews is None:
            return None
        snapshot = await self.graph.aget_state(run.config)
        if not snapshot.interrupts:
            return None
        opened = await self.reviews.open(run.tenant_id, run.workflow_id, snapshot.interrupts[0].value)
        state = cast(WorkflowState, snapshot.values) if snapshot.values else run.state
        workflow = build_workflow(state, run.created, None, run.routing_usage())
        finished_drive(workflow, run, self.settings)  # the drive's budget and cost (a decision drives it on)
        workflow.status = supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW
        workflow.review_id = opened.review_id
        workflow.summary = (
            f"awaiting review {opened.review_id}: {opened.items} item(s) of the {opened.team} team to approve"
        )
        await self.store.save_workflow(
            run.tenant_id, run.workflow_id, AWAITING_REVIEW, workflow.SerializeToString(), *_totals(workflow)
        )
        log.info("workflow_awaiting_review", workflow_id=run.workflow_id, review_id=opened.review_id)
        if opened.resume is not None:
            await self.continue_after_review(run.tenant_id, run.workflow_id, opened.resume)
        return workflow, opened

    async def continue_after_review(self, tenant_id: str, workflow_id: str, resume: dict[str, Any]) -> None:
        """Drive a workflow awaiting review on, in the background, with the reviewer's decision
        (``Command(resume=...)``): its graph resumes from its checkpoint and, through the team node, the team's
        paused subgraph from its own.

        Raises:
            FailedPrecondition: The workflow is not awaiting review (another replica took it on).
        """
        if not await ReviewStore(self.store.db).claim_workflow(tenant_id, workflow_id, self.owner):
            raise FailedPrecondition(f"workflow {workflow_id} is not awaiting review")
        log.info("workflow_review_decided", workflow_id=workflow_id)
        self._in_background(
            self._resume_claimed(tenant_id, workflow_id, Command(resume=resume)), f"review-{workflow_id}"
        )

    def _start_graph(
        self,
        graph_input: WorkflowState | Command[Any] | None,
        config: RunnableConfig,
        queue: asyncio.Queue[tuple[str, Any]],
        workflow_id: str,
    ) -> asyncio.Task[None]:
        """Run the graph in its own task feeding a bounded queue: CancelWorkflow cancels that task and the
        handler answers CANCELLED; when the handler is cancelled (caller gone, shutdown), it cancels the task."""

        async def produce() -> None:
            try:
                async for item in self.graph.astream(graph_input, config, stream_mode=["custom", "values"]):
                    await queue.put(("item", item))
                await queue.put(("end", None))
            except asyncio.CancelledError:
                await queue.put(("cancelled", None))
            except Exception as exc:
                await queue.put(("error", exc))

        producer = asyncio.get_running_loop().create_task(produce(), name=f"workflow-{workflow_id}")
        self.running[workflow_id] = producer
        return producer

    async def _next_item(self, queue: asyncio.Queue[tuple[str, Any]], run: _Drive) -> tuple[str, Any] | None:
        """The graph's next (mode, chunk); None at its end.

        Raises:
            Cancelled: CancelWorkflow cancelled the graph (the cancellation is recorded first).
        """
        kind, item = await queue.get()
        if kind == "error":
            raise item
        if kind == "cancelled":
            latest = await self._latest_state(run)
            await self._finish(
                run.tenant_id, run.workflow_id, latest, run.created, run.routing_usage(), cancelled=True
            )
            self.cancel_requested.discard(run.workflow_id)
            raise Cancelled(f"workflow {run.workflow_id} was cancelled")
        return None if kind == "end" else item

    async def _latest_state(self, run: _Drive) -> WorkflowState:
        """The workflow's state at its last checkpoint (what the drive saw last when there is none)."""
        values = (await self.graph.aget_state(run.config)).values
        return cast(WorkflowState, values) if values else run.state

    async def _abandon(self, run: _Drive, producer: asyncio.Task[None]) -> None:
        """The handler was cancelled: stop the graph; unless the replica is stopping (then another resumes it),
        record the workflow as cancelled and have the teams undo its side effects."""
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
        if self.stopping:
            return
        latest = await self._latest_state(run)
        workflow = await asyncio.shield(
            self._finish(
                run.tenant_id, run.workflow_id, latest, run.created, run.routing_usage(), cancelled=True
            )
        )
        if self.on_abandoned is not None and run.workflow_id not in self.cancel_requested:
            self._in_background(self.on_abandoned(workflow), f"abandoned-{run.workflow_id}")

    async def _save_progress(self, run: _Drive) -> None:
        """Record the agent executions of newly finished team runs and the workflow's snapshot."""
        for team_run in run.state.get("team_runs", []):
            if team_run["team"] in run.recorded:
                continue
            upstream = [a["id"] for a in run.state.get("artifacts", []) if a["team"] != team_run["team"]]
            await self.store.record_executions(
                run.tenant_id, executions_of(run.workflow_id, team_run, upstream, run.task)
            )
            run.recorded.add(team_run["team"])
        snapshot = build_workflow(run.state, run.created, None, run.routing_usage())
        if run.limits is not None:
            snapshot.budget.CopyFrom(run.limits.budget.to_proto())
        await self.store.save_workflow(
            run.tenant_id, run.workflow_id, RUNNING, snapshot.SerializeToString(), *_totals(snapshot)
        )

    async def _finish(
        self,
        tenant_id: str,
        workflow_id: str,
        state: WorkflowState,
        created: datetime,
        routing_usage: dict[str, Any],
        cancelled: bool = False,
        run: _Drive | None = None,
        stopped: BudgetExceededError | None = None,
    ) -> supervisor_pb2.Workflow:
        workflow = build_workflow(state, created, datetime.now(UTC), routing_usage)
        if run is not None:
            finished_drive(workflow, run, self.settings)
        if stopped is not None:
            mark_stopped(workflow, stopped, state)
        if cancelled:
            workflow.status = supervisor_pb2.WORKFLOW_STATUS_CANCELLED
            workflow.summary = "cancelled: " + workflow.summary.split(": ", 1)[-1]
        name = status_name(workflow.status)
        await self.store.save_workflow(
            tenant_id, workflow_id, name, workflow.SerializeToString(), *_totals(workflow)
        )
        TASKS.labels(status=name).inc()
        await self._announce_finish(tenant_id, workflow)
        log.info(
            "workflow_finished",
            workflow_id=workflow_id,
            status=name,
            artifacts=len(workflow.artifacts),
            failed_teams=list(workflow.failed_teams),
            cost_usd=round(workflow.usage.cost_usd, 6),
            duration_ms=int((time.time() - created.timestamp()) * 1000),
        )
        return workflow

    # --- queries and control --------------------------------------------------------------------------------

    async def get(
        self, tenant_id: str, workflow_id: str
    ) -> tuple[supervisor_pb2.Workflow, list[AgentExecution]]:
        """A workflow of the tenant and its agent executions.

        Raises:
            NotFound: No workflow of this tenant has that id.
        """
        record = await self._record(tenant_id, workflow_id)
        executions = await self.store.agent_executions(tenant_id, workflow_id)
        return supervisor_pb2.Workflow.FromString(record.snapshot), executions

    async def list(
        self, tenant_id: str, page_size: int, page_token: str, status: str
    ) -> tuple[list[supervisor_pb2.Workflow], str]:
        """A page of the tenant's workflows, newest first."""
        records, token = await self.store.list_workflows(tenant_id, page_size, page_token, status)
        return [supervisor_pb2.Workflow.FromString(r.snapshot) for r in records], token

    async def resume(
        self, tenant_id: str, workflow_id: str, admitted: Admitted | None = None, new_budget: bool = False
    ) -> supervisor_pb2.Workflow:
        """Resume an orphaned running workflow of the tenant to completion (a finished one is returned as it is),
        or one its budget stopped (status ``budget_exceeded``), under ``admitted``'s budget when ``new_budget``,
        else under the budget it had.

        Raises:
            NotFound: No workflow of this tenant has that id.
            FailedPrecondition: The workflow is running here or on a replica that still heart-beats.
        """
        record = await self._record(tenant_id, workflow_id)
        if record.status == BUDGET_EXCEEDED:
            if not await self.store.reopen(tenant_id, workflow_id, self.owner):
                raise FailedPrecondition(f"workflow {workflow_id} is being resumed by another call")
            return await self._resumed(tenant_id, workflow_id, admitted, new_budget)
        if record.status in TERMINAL:
            return supervisor_pb2.Workflow.FromString(record.snapshot)
        if record.status == AWAITING_REVIEW:
            raise FailedPrecondition(
                f"workflow {workflow_id} waits for a review: decide it with ReviewService"
            )
        if workflow_id in self.running:
            raise FailedPrecondition(f"workflow {workflow_id} is running on this replica")
        if record.owner.startswith(QUEUE_OWNER_PREFIX) or record.status != RUNNING:
            raise FailedPrecondition(f"workflow {workflow_id} was submitted: the task queue runs it")
        stale_s = self.settings.workflow_heartbeat_s * STALE_AFTER_HEARTBEATS
        if not await self.store.claim(tenant_id, workflow_id, self.owner, stale_s):
            raise FailedPrecondition(f"workflow {workflow_id} is running on another replica (it heart-beats)")
        return await self._resumed(tenant_id, workflow_id, admitted, new_budget)

    async def _resumed(
        self, tenant_id: str, workflow_id: str, admitted: Admitted | None, new_budget: bool
    ) -> supervisor_pb2.Workflow:
        workflow = None
        async for event in self._resume_events(tenant_id, workflow_id, admitted, new_budget):
            if event.HasField("done"):
                workflow = event.done
        assert workflow is not None
        return workflow

    async def _resume_events(
        self,
        tenant_id: str,
        workflow_id: str,
        admitted: Admitted | None = None,
        new_budget: bool = False,
        command: Command[Any] | None = None,
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        record = await self._record(tenant_id, workflow_id)
        profile = await self.profile_of(tenant_id)
        prior = supervisor_pb2.Workflow.FromString(record.snapshot)
        config = RunnableConfig(configurable={"thread_id": thread_id_of(tenant_id, workflow_id)})
        checkpoint = await self.graph.aget_state(config)
        deadline = time.time() + self.settings.task_timeout_s
        graph_input: WorkflowState | Command[Any] | None
        # From its checkpoint when it has one (the new deadline travels in the run's config: updating the state would
        # make LangGraph forget the router's pending jump).
        graph_input = None if checkpoint.values else initial_state(workflow_id, record.task, deadline)
        if isinstance(graph_input, dict) and prior.approval_policy:  # a submitted task's own policy
            graph_input["approval_policy"] = tenant_pb2.ApprovalPolicy.Name(prior.approval_policy)
        if command is not None and checkpoint.values:
            graph_input = command  # a reviewer's decision
        log.info("workflow_resumed", workflow_id=workflow_id, from_checkpoint=graph_input is None)
        ledger = UsageLedger(self.prices, "supervisor")
        run = _Drive(
            tenant_id,
            workflow_id,
            record.task,
            record.created_at,
            ledger,
            usage_from_proto(prior.routing_usage),
        )
        budget = admitted.budget if admitted is not None and new_budget else Budget.of(prior.budget)
        quota = admitted.quota if admitted else await self._orphan_quota(tenant_id)
        run.limits = RunLimits.for_drive(budget, quota, ledger, prior)
        run.prior_cost_usd = prior.usage.cost_usd
        async for event in self._drive(run, graph_input, False, deadline, profile):
            yield event

    async def _orphan_quota(self, tenant_id: str) -> MonthlyQuota | None:
        """The tenant's monthly quota for a claimed orphan (its caller's admission is gone)."""
        return await self.admission.monthly_quota(tenant_id) if self.admission is not None else None

    async def cancel(self, tenant_id: str, workflow_id: str) -> supervisor_pb2.Workflow:
        """Cancel a running workflow of the tenant (its task and team calls are cancelled); a finished one is
        returned as it is.

        Raises:
            NotFound: No workflow of this tenant has that id.
        """
        record = await self._record(tenant_id, workflow_id)
        if record.status in TERMINAL:
            return supervisor_pb2.Workflow.FromString(record.snapshot)
        task = self.running.get(workflow_id)
        if task is not None:
            self.cancel_requested.add(workflow_id)
            task.cancel()
            for _ in range(100):  # the workflow's handler records the cancellation
                record = await self._record(tenant_id, workflow_id)
                if record.status in TERMINAL:
                    break
                await asyncio.sleep(0.05)
        else:
            if record.status == AWAITING_REVIEW:  # records are saved while running: take it back first
                await ReviewStore(self.store.db).claim_workflow(tenant_id, workflow_id, self.owner)
            workflow = supervisor_pb2.Workflow.FromString(record.snapshot)
            workflow.status = supervisor_pb2.WORKFLOW_STATUS_CANCELLED
            workflow.complete_time.FromDatetime(datetime.now(UTC))
            await self.store.save_workflow(
                tenant_id,
                workflow_id,
                status_name(workflow.status),
                workflow.SerializeToString(),
                *_totals(workflow),
            )
            await self._announce_finish(tenant_id, workflow)
        record = await self._record(tenant_id, workflow_id)
        return supervisor_pb2.Workflow.FromString(record.snapshot)

    async def _announce_finish(self, tenant_id: str, workflow: supervisor_pb2.Workflow) -> None:
        """Tell the finish hooks of a finish just recorded (a hook's failure never undoes the finish)."""
        for hook in self.finish_hooks:
            try:
                await hook(tenant_id, workflow)
            except Exception:
                log.exception("finish_hook_failed", workflow_id=workflow.id)

    async def forget(self, tenant_id: str, workflow_id: str) -> int:
        """Erase a workflow of the tenant from this service: its checkpoints (thread ``<tenant>/<workflow id>``)
        and its records (agent executions, stored team results, the workflow). Cancel it first; the teams erase
        their own. Returns the number of records erased (0: nothing of this tenant by that id was left)."""
        checkpointer = self.graph.checkpointer
        if isinstance(checkpointer, BaseCheckpointSaver):
            await checkpointer.adelete_thread(thread_id_of(tenant_id, workflow_id))
        erased = await self.store.delete_workflow(tenant_id, workflow_id)
        if self.reviews is not None:  # reviews are kept where the review desk is wired
            erased += await self.reviews.store.delete_workflow(tenant_id, workflow_id)
        for hook in self.forget_hooks:
            erased += await hook(tenant_id, workflow_id)
        log.info("workflow_forgotten", workflow_id=workflow_id, erased_records=erased)
        return erased

    async def _record(self, tenant_id: str, workflow_id: str) -> WorkflowRecord:
        record = await self.store.get_workflow(tenant_id, workflow_id)
        if record is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return record


@dataclass
class _Drive:
    """One drive of a workflow's graph: what its event loop keeps between events."""

    tenant_id: str
    workflow_id: str
    task: str
    created: datetime
    ledger: UsageLedger
    prior_routing_usage: dict[str, Any]
    config: RunnableConfig = field(default_factory=lambda: RunnableConfig())
    state: WorkflowState = field(default_factory=lambda: WorkflowState())
    recorded: set[str] = field(default_factory=set)
    sequence: int = 0
    limits: RunLimits | None = None
    started: float = field(default_factory=time.monotonic)
    prior_cost_usd: float = (
        0.0  # what earlier drives of the workflow cost (the tenant cost metric counts the rest)
    )

    def event(self, **fields: Any) -> supervisor_pb2.StreamTaskResponse:
        """The next event of the workflow's stream."""
        self.sequence += 1
        return supervisor_pb2.StreamTaskResponse(
            workflow_id=self.workflow_id, sequence=self.sequence, **fields
        )

    def routing_usage(self) -> dict[str, Any]:
        """The supervisor's own model usage, earlier drives included."""
        return merge_usage(self.prior_routing_usage, self.ledger.totals().to_dict())


def event_fields(chunk: dict[str, Any]) -> dict[str, Any] | None:
    """The StreamTaskResponse field of a graph's custom stream chunk (None for chunks callers do not see)."""
    if "text_delta" in chunk:
        return {"text_delta": chunk["text_delta"]}
    if isinstance(chunk.get("text_withdrawn"), team_pb2.TextWithdrawn):  # relayed from a team
        return {"text_withdrawn": chunk["text_withdrawn"]}
    if "routing_step" in chunk:
        return {"routing_step": routing_step_to_proto(chunk["routing_step"])}
    if "team_started" in chunk:
        return {"team_started": supervisor_pb2.TeamStarted(team=chunk["team_started"])}
    if "agent_step" in chunk:
        return {"agent_step": chunk["agent_step"]}
    if "artifact" in chunk:
        return {"artifact": chunk["artifact"]}
    if "team_finished" in chunk:
        return {"team_finished": team_run_to_proto(chunk["team_finished"])}
    return None


async def _logged(work: Awaitable[Any], name: str) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background_work_failed", work=name)


def _totals(workflow: supervisor_pb2.Workflow) -> tuple[int, int, float]:
    return workflow.usage.input_tokens, workflow.usage.output_tokens, workflow.usage.cost_usd
