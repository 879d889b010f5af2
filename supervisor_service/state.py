"""The supervisor graph's state and the records it accumulates (plain data, so checkpointers can store them)."""

from __future__ import annotations

import operator
from enum import StrEnum
from typing import Annotated, Any, NotRequired, TypedDict

from common.agents.state import ArtifactData, StepData


class TeamRunStatus(StrEnum):
    """How a team call ended."""

    SUCCEEDED = "succeeded"
    DEGRADED = "degraded"  # the team answered, but some of its work fell short
    FAILED = "failed"
    CIRCUIT_OPEN = "circuit_open"  # not called: the team's breaker was open


ANSWERED = frozenset({TeamRunStatus.SUCCEEDED, TeamRunStatus.DEGRADED})
"""Statuses of a team that answered (its artifacts are in the workflow); also matches the plain strings that a
checkpoint gives back."""


class RoutingStepData(TypedDict):
    """One supervisor routing decision; ``team`` is "" when the decision is FINISH."""

    index: int
    team: str
    next: str
    reasoning: str
    decision_source: str


class TeamRunData(TypedDict):
    """One team call and what came of it."""

    team: str
    status: TeamRunStatus
    summary: str
    error: str
    error_code: str
    attempts: int
    usage: dict[str, Any]
    warnings: list[str]
    steps: list[StepData]
    duration_ms: int
    external_calls: NotRequired[dict[str, int]]  # calls the team's tools made per external service


class WorkflowState(TypedDict, total=False):
    """State of one workflow. ``deadline`` is a Unix time, so it survives a checkpoint."""

    workflow_id: str
    task: str
    deadline: float
    routing_steps: Annotated[list[RoutingStepData], operator.add]
    team_runs: Annotated[list[TeamRunData], operator.add]
    artifacts: Annotated[list[ArtifactData], operator.add]
    next: str
    approval_policy: str  # the task's own ApprovalPolicy name ("": the tenant's)


def initial_state(workflow_id: str, task: str, deadline: float) -> WorkflowState:
    """The state a new workflow starts from."""
    return {
        "workflow_id": workflow_id,
        "task": task,
        "deadline": deadline,
        "routing_steps": [],
        "team_runs": [],
        "artifacts": [],
        "next": "",
    }
