"""``marketing.supervisor.v1.SupervisorService``: validates tasks, runs the graph, streams or returns the workflow."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import grpc
import structlog
from google.protobuf import timestamp_pb2
from langgraph.graph.state import CompiledStateGraph
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.agents.convert import (
    artifact_to_proto,
    decision_source,
    duration_ms,
    step_to_proto,
    usage_to_proto,
)
from common.config import Settings
from common.llm.usage import PriceTable, UsageLedger, merge_usage
from common.logging import get_logger
from common.metrics import TASKS, WORKFLOWS_IN_FLIGHT
from common.telemetry import ModelCallSpans
from common.validation import MAX_TASK_CHARS, check_text, raise_if_invalid
from supervisor_service.graph import WorkflowState

log = get_logger(__name__)

_RUN_STATUS = {
    "succeeded": supervisor_pb2.TEAM_RUN_STATUS_SUCCEEDED,
    "degraded": supervisor_pb2.TEAM_RUN_STATUS_DEGRADED,
    "failed": supervisor_pb2.TEAM_RUN_STATUS_FAILED,
    "circuit_open": supervisor_pb2.TEAM_RUN_STATUS_CIRCUIT_OPEN,
}
ANSWERED = ("succeeded", "degraded")
# Time kept back from the caller's deadline to assemble and send the answer.
RESPONSE_RESERVE_S = 0.5


def _timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def routing_step_to_proto(step: Mapping[str, Any]) -> supervisor_pb2.RoutingStep:
    """Routing-step record to protobuf."""
    return supervisor_pb2.RoutingStep(
        index=step["index"],
        team=step["team"],
        next=step["next"],
        reasoning=step["reasoning"],
        decision_source=decision_source(step["decision_source"]),
    )


def team_run_to_proto(run: Mapping[str, Any]) -> supervisor_pb2.TeamRun:
    """Team-run record to protobuf."""
    return supervisor_pb2.TeamRun(
        team=run["team"],
        status=_RUN_STATUS[run["status"]],
        summary=run["summary"],
        error=run["error"],
        error_code=run["error_code"],
        attempts=run["attempts"],
        steps=[step_to_proto(s) for s in run["steps"]],
        duration=duration_ms(run["duration_ms"]),
        usage=usage_to_proto(run["usage"]),
    )


def workflow_warnings(state: WorkflowState) -> list[str]:
    """Everything that fell short: failed team calls, degraded teams, keyword-fallback routing."""
    warnings = []
    for run in state.get("team_runs", []):
        if run["status"] not in ANSWERED:
            warnings.append(
                f"{run['team']} team {run['status']} ({run['error_code'] or 'error'}): {run['error']}"
            )
        warnings.extend(run.get("warnings", []))
    fallbacks = [s for s in state.get("routing_steps", []) if s["decision_source"] == "keyword_fallback"]
    if fallbacks:
        warnings.append(f"the supervisor fell back to keyword routing for {len(fallbacks)} decision(s)")
    return warnings


def workflow_status(state: WorkflowState) -> int:
    """FAILED when no team answered, PARTIAL when some team calls failed, DEGRADED when every team answered but
    some work fell short, COMPLETED otherwise."""
    runs = state.get("team_runs", [])
    answered = [r for r in runs if r["status"] in ANSWERED]
    if not answered:
        return supervisor_pb2.WORKFLOW_STATUS_FAILED
    if len(answered) < len(runs):
        return supervisor_pb2.WORKFLOW_STATUS_PARTIAL
    if workflow_warnings(state):
        return supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    return supervisor_pb2.WORKFLOW_STATUS_COMPLETED


def workflow_summary(status: int, state: WorkflowState) -> str:
    """One readable sentence about the outcome."""
    runs = state.get("team_runs", [])
    ok = [r["team"] for r in runs if r["status"] in ANSWERED]
    failed = [
        f"{r['team']} ({r['error_code'] or r['status']}: {r['error']})"
        for r in runs
        if r["status"] not in ANSWERED
    ]
    name = supervisor_pb2.WorkflowStatus.Name(status).removeprefix("WORKFLOW_STATUS_").lower()
    text = f"{name}: {len(state.get('artifacts', []))} artifact(s)"
    if ok:
        text += f" from {', '.join(ok)}"
    if failed:
        text += f"; failed: {'; '.join(failed)}"
    if not runs:
        text += "; no team was called"
    degraded = [r["team"] for r in runs if r["status"] == "degraded"]
    if degraded:
        text += f"; degraded: {', '.join(degraded)}"
    return text


def build_workflow(
    state: WorkflowState, created: datetime, completed: datetime, routing_usage: dict[str, Any]
) -> supervisor_pb2.Workflow:
    """The workflow message of a finished graph run."""
    runs = state.get("team_runs", [])
    status = workflow_status(state)
    return supervisor_pb2.Workflow(
        id=state["workflow_id"],
        task=state["task"],
        status=status,
        routing_steps=[routing_step_to_proto(s) for s in state.get("routing_steps", [])],
        team_runs=[team_run_to_proto(r) for r in runs],
        artifacts=[artifact_to_proto(a) for a in state.get("artifacts", [])],
        failed_teams=[r["team"] for r in runs if r["status"] not in ANSWERED],
        summary=workflow_summary(status, state),
        create_time=_timestamp(created),
        complete_time=_timestamp(completed),
        routing_usage=usage_to_proto(routing_usage),
        usage=usage_to_proto(merge_usage(routing_usage, *(r["usage"] for r in runs))),
        warnings=workflow_warnings(state),
    )


def validate_task(task: str) -> None:
    """Reject a blank, oversized or control-character task with ``INVALID_ARGUMENT``."""
    raise_if_invalid(check_text("task", task, max_chars=MAX_TASK_CHARS))


class SupervisorServicer(supervisor_pb2_grpc.SupervisorServiceServicer):
    """Runs tasks through the supervisor graph."""

    def __init__(self, graph: CompiledStateGraph, settings: Settings) -> None:
        self.graph = graph
        self.settings = settings
        self.recursion_limit = settings.supervisor_max_steps * 2 + 4
        self.prices = PriceTable(settings.llm_prices)

    def _deadline(self, context: grpc.aio.ServicerContext) -> float:
        budget = self.settings.task_timeout_s
        remaining = context.time_remaining()
        if remaining is not None:
            budget = min(budget, remaining - min(RESPONSE_RESERVE_S, remaining * 0.1))
        return time.time() + budget

    async def _events(
        self, task: str, context: grpc.aio.ServicerContext, stream_text: bool
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        validate_task(task)
        workflow_id = str(uuid.uuid4())
        created = datetime.now(UTC)
        state: WorkflowState = {
            "workflow_id": workflow_id,
            "task": task,
            "deadline": self._deadline(context),
            "routing_steps": [],
            "team_runs": [],
            "artifacts": [],
            "next": "",
        }
        structlog.contextvars.bind_contextvars(workflow_id=workflow_id)
        log.info("workflow_started", task_chars=len(task))
        sequence = 0

        def event(**fields: Any) -> supervisor_pb2.StreamTaskResponse:
            nonlocal sequence
            sequence += 1
            return supervisor_pb2.StreamTaskResponse(workflow_id=workflow_id, sequence=sequence, **fields)

        ledger = UsageLedger(self.prices, "supervisor")
        config: dict[str, Any] = {
            "recursion_limit": self.recursion_limit,
            "callbacks": [ledger, ModelCallSpans()],
            "configurable": {"stream_text": stream_text},
        }
        final = state
        WORKFLOWS_IN_FLIGHT.inc()
        try:
            async for mode, chunk in self.graph.astream(state, config, stream_mode=["custom", "values"]):
                if mode == "values":
                    final = chunk
                elif "text_delta" in chunk:
                    yield event(text_delta=chunk["text_delta"])
                elif "routing_step" in chunk:
                    yield event(routing_step=routing_step_to_proto(chunk["routing_step"]))
                elif "team_started" in chunk:
                    yield event(team_started=supervisor_pb2.TeamStarted(team=chunk["team_started"]))
                elif "agent_step" in chunk:
                    yield event(agent_step=chunk["agent_step"])
                elif "artifact" in chunk:
                    yield event(artifact=chunk["artifact"])
                elif "team_finished" in chunk:
                    yield event(team_finished=team_run_to_proto(chunk["team_finished"]))
        finally:
            WORKFLOWS_IN_FLIGHT.dec()
        workflow = build_workflow(final, created, datetime.now(UTC), ledger.totals().to_dict())
        status = supervisor_pb2.WorkflowStatus.Name(workflow.status).removeprefix("WORKFLOW_STATUS_").lower()
        TASKS.labels(status=status).inc()
        log.info(
            "workflow_finished",
            status=status,
            artifacts=len(workflow.artifacts),
            failed_teams=list(workflow.failed_teams),
            cost_usd=round(workflow.usage.cost_usd, 6),
            duration_ms=int((time.time() - created.timestamp()) * 1000),
        )
        yield event(done=workflow)

    async def RunTask(
        self, request: supervisor_pb2.RunTaskRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.RunTaskResponse:
        workflow = None
        async for event in self._events(request.task, context, stream_text=False):
            if event.HasField("done"):
                workflow = event.done
        return supervisor_pb2.RunTaskResponse(workflow=workflow)

    async def StreamTask(
        self, request: supervisor_pb2.StreamTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        async for event in self._events(request.task, context, stream_text=True):
            yield event
