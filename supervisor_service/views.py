"""The supervisor's records as protobuf: routing steps, team runs, status, warnings and the Workflow message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import timestamp_pb2
from marketing.supervisor.v1 import supervisor_pb2
from marketing.team.v1 import team_pb2

from common.agents.convert import (
    artifact_to_proto,
    decision_source,
    duration_ms,
    step_to_proto,
    usage_to_proto,
)
from common.llm.usage import merge_usage
from common.routing import DecisionSource
from supervisor_service.state import ANSWERED, RoutingStepData, TeamRunData, TeamRunStatus, WorkflowState

_RUN_STATUS = {
    TeamRunStatus.SUCCEEDED: supervisor_pb2.TEAM_RUN_STATUS_SUCCEEDED,
    TeamRunStatus.DEGRADED: supervisor_pb2.TEAM_RUN_STATUS_DEGRADED,
    TeamRunStatus.FAILED: supervisor_pb2.TEAM_RUN_STATUS_FAILED,
    TeamRunStatus.CIRCUIT_OPEN: supervisor_pb2.TEAM_RUN_STATUS_CIRCUIT_OPEN,
}


def _timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def routing_step_to_proto(step: RoutingStepData) -> supervisor_pb2.RoutingStep:
    """Routing-step record to protobuf."""
    return supervisor_pb2.RoutingStep(
        index=step["index"],
        team=step["team"],
        next=step["next"],
        reasoning=step["reasoning"],
        decision_source=decision_source(step["decision_source"]),
    )


def team_run_to_proto(run: TeamRunData) -> supervisor_pb2.TeamRun:
    """Team-run record to protobuf."""
    return supervisor_pb2.TeamRun(
        team=run["team"],
        status=_RUN_STATUS[run["status"]],
        summary=run["summary"],
        error=run["error"],
        error_code=run["error_code"],
        attempts=run["attempts"],
        steps=[step_to_proto(s, s.get("usage")) for s in run["steps"]],
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
    fallbacks = [
        s for s in state.get("routing_steps", []) if s["decision_source"] == DecisionSource.KEYWORD_FALLBACK
    ]
    if fallbacks:
        warnings.append(f"the supervisor fell back to keyword routing for {len(fallbacks)} decision(s)")
    warnings.extend(
        f"the supervisor's router was stopped by the loop guard: {s['reasoning']}"
        for s in state.get("routing_steps", [])
        if s["decision_source"] == DecisionSource.LOOP_GUARD
    )
    return warnings


def workflow_status(state: WorkflowState) -> supervisor_pb2.WorkflowStatus:
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
    degraded = [r["team"] for r in runs if r["status"] == TeamRunStatus.DEGRADED]
    if degraded:
        text += f"; degraded: {', '.join(degraded)}"
    return text


def build_workflow(
    state: WorkflowState, created: datetime, completed: datetime | None, routing_usage: dict[str, Any]
) -> supervisor_pb2.Workflow:
    """The workflow message of a graph run: RUNNING while ``completed`` is None, else its final status."""
    runs = state.get("team_runs", [])
    status = workflow_status(state) if completed else supervisor_pb2.WORKFLOW_STATUS_RUNNING
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
        complete_time=_timestamp(completed) if completed else None,
        routing_usage=usage_to_proto(routing_usage),
        usage=usage_to_proto(merge_usage(routing_usage, *(r["usage"] for r in runs))),
        warnings=workflow_warnings(state),
        external_calls=external_calls_of(runs),
    )


def external_calls_of(runs: list[TeamRunData]) -> list[team_pb2.ExternalCalls]:
    """The calls the teams' tools made to external services, per team and service."""
    return [
        team_pb2.ExternalCalls(team=run["team"], service=service, calls=calls)
        for run in runs
        for service, calls in sorted(run.get("external_calls", {}).items())
    ]
