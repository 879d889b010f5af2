"""Plain-data records that flow through the graphs (JSON-friendly, so checkpointers can store them)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class StepKind(StrEnum):
    """What a team step was: the team lead's routing decision or a worker's work."""

    ROUTING = "routing"
    WORK = "work"


class ArtifactData(TypedDict):
    """A team's artifact. ``kind`` is the lower-case ArtifactKind suffix, e.g. ``research_brief``."""

    id: str
    team: str
    agent: str
    kind: str
    title: str
    content: str
    mime_type: str
    metadata: dict[str, str]
    data: NotRequired[bytes]  # binary content (PNG chart or image); absent for text artifacts


class StepData(TypedDict):
    """One routing or work step inside a team. ``kind`` is a ``StepKind``, ``decision_source`` a
    ``common.routing.DecisionSource`` (or "" for work)."""

    index: int
    team: str
    agent: str
    kind: str
    next: str
    reasoning: str
    decision_source: str
    summary: str
    artifact_ids: list[str]
    error: str
    duration_ms: int
    usage: NotRequired[dict[str, Any]]
    tool_calls: NotRequired[
        dict[str, int]
    ]  # work steps: calls per tool name (usage billing of external APIs)


class BriefData(TypedDict):
    """The curated input of a team: the task and the upstream artifacts, never other agents' history.

    ``tenant_id`` is the tenant the work is for; ``profile`` its ``marketing.tenant.v1.TenantProfile`` as plain
    data (``json_format.MessageToDict`` with proto field names and every scalar and repeated field present, enum
    values by name, e.g. ``{"time_zone": "Europe/Berlin", "enabled_platforms": ["PLATFORM_X"],
    "posting_windows": [{"platform": "PLATFORM_X", "weekdays": [1], "start_hour": 9, "end_hour": 11}],
    "knowledge_documents": [{"id": ..., "title": ..., "body": ...}], ...}``). Both are absent from briefs built
    before tenants existed (checkpoints of older runs).
    """

    workflow_id: str
    task: str
    instructions: str
    upstream: list[ArtifactData]
    tenant_id: NotRequired[str]
    profile: NotRequired[dict[str, Any]]
    review_required: NotRequired[
        bool
    ]  # the team's work waits for a person's approval (common.agents.review_gate)


def new_step(team: str, agent: str, kind: StepKind, index: int, **fields: Any) -> StepData:
    """A step record with every field present."""
    step: StepData = {
        "index": index,
        "team": team,
        "agent": agent,
        "kind": kind,
        "next": "",
        "reasoning": "",
        "decision_source": "",
        "summary": "",
        "artifact_ids": [],
        "error": "",
        "duration_ms": 0,
    }
    step.update(fields)  # type: ignore[typeddict-item]
    return step
