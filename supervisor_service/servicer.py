"""``marketing.supervisor.v1.SupervisorService``: validates tasks, runs the graph, streams or returns the workflow."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from langgraph.graph.state import CompiledStateGraph
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.agents.convert import artifact_to_proto, decision_source, duration_ms, step_to_proto
from common.config import Settings
from common.logging import get_logger
from common.validation import MAX_TASK_CHARS, check_text, raise_if_invalid
from supervisor_service.graph import WorkflowState

log = get_logger(__name__)

_RUN_STATUS = {
    "succeeded": supervisor_pb2.TEAM_RUN_STATUS_SUCCEEDED,
    "failed": supervisor_pb2.TEAM_RUN_STATUS_FAILED,
    "circuit_open": supervisor_pb2.TEAM_RUN_STATUS_CIRCUIT_OPEN,
}
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
    )


def workflow_status(runs: list[Mapping[str, Any]]) -> int:
    """COMPLETED when every team call succeeded, PARTIAL when some did, FAILED when none did."""
    succeeded = [r for r in runs if r["status"] == "succeeded"]
    if not runs or not succeeded:
        return supervisor_pb2.WORKFLOW_STATUS_FAILED
    if len(succeeded) == len(runs):
        return supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    return supervisor_pb2.WORKFLOW_STATUS_PARTIAL


def workflow_summary(status: int, runs: list[Mapping[str, Any]], artifact_count: int) -> str:
    """One readable sentence about the outcome."""
    ok = [r["team"] for r in runs if r["status"] == "succeeded"]
    failed = [
        f"{r['team']} ({r['error_code'] or r['status']}: {r['error']})"
        for r in runs
        if r["status"] != "succeeded"
    ]
    name = supervisor_pb2.WorkflowStatus.Name(status).removeprefix("WORKFLOW_STATUS_").lower()
    text = f"{name}: {artifact_count} artifact(s)"
    if ok:
        text += f" from {', '.join(ok)}"
    if failed:
        text += f"; failed: {'; '.join(failed)}"
    if not runs:
        text += "; no team was called"
    return text


def build_workflow(state: WorkflowState, created: datetime, completed: datetime) -> supervisor_pb2.Workflow:
    """The workflow message of a finished graph run."""
    runs = state.get("team_runs", [])
    artifacts = state.get("artifacts", [])
    status = workflow_status(runs)
    return supervisor_pb2.Workflow(
        id=state["workflow_id"],
        task=state["task"],
        status=status,
        routing_steps=[routing_step_to_proto(s) for s in state.get("routing_steps", [])],
        team_runs=[team_run_to_proto(r) for r in runs],
        artifacts=[artifact_to_proto(a) for a in artifacts],
        failed_teams=[r["team"] for r in runs if r["status"] != "succeeded"],
        summary=workflow_summary(status, runs, len(artifacts)),
        create_time=_timestamp(created),
        complete_time=_timestamp(completed),
    )


def validate_task(task: str) -> None:
    """Reject a blank, oversized or control-character task with ``INVALID_ARGUMENT``."""
    raise_if_invalid(check_text("task", task, max_chars=MAX_TASK_CHARS))


class SupervisorServicer(supervisor_pb2_grpc.SupervisorServiceServicer):
    """Runs tasks through the supervisor graph."""

    def __init__(self, graph: CompiledStateGraph, settings: Settings) -> None:
        self.graph = graph
        self.settings = settings
        self.config: dict[str, Any] = {"recursion_limit": settings.supervisor_max_steps * 2 + 4}

    def _deadline(self, context: grpc.aio.ServicerContext) -> float:
        budget = self.settings.task_timeout_s
        remaining = context.time_remaining()
        if remaining is not None:
            budget = min(budget, remaining - min(RESPONSE_RESERVE_S, remaining * 0.1))
        return time.time() + budget

    async def _events(
        self, task: str, context: grpc.aio.ServicerContext
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
        log.info("workflow_started", workflow_id=workflow_id, task_chars=len(task))
        sequence = 0

        def event(**fields: Any) -> supervisor_pb2.StreamTaskResponse:
            nonlocal sequence
            sequence += 1
            return supervisor_pb2.StreamTaskResponse(workflow_id=workflow_id, sequence=sequence, **fields)

        final = state
        async for mode, chunk in self.graph.astream(state, self.config, stream_mode=["custom", "values"]):
            if mode == "values":
                final = chunk
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
        workflow = build_workflow(final, created, datetime.now(UTC))
        log.info(
            "workflow_finished",
            workflow_id=workflow_id,
            status=supervisor_pb2.WorkflowStatus.Name(workflow.status),
            artifacts=len(workflow.artifacts),
            failed_teams=list(workflow.failed_teams),
        )
        yield event(done=workflow)

    async def RunTask(
        self, request: supervisor_pb2.RunTaskRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.RunTaskResponse:
        workflow = None
        async for event in self._events(request.task, context):
            if event.HasField("done"):
                workflow = event.done
        return supervisor_pb2.RunTaskResponse(workflow=workflow)

    async def StreamTask(
        self, request: supervisor_pb2.StreamTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        async for event in self._events(request.task, context):
            yield event
