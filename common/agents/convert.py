"""Conversions between the graphs' plain records and the marketing.team.v1 protobuf messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message
from marketing.team.v1 import team_pb2

from common.agents.state import ArtifactData, BriefData, StepData, StepKind
from common.routing import DecisionSource
from common.tools.registry import ToolInfo

_STEP_KINDS: dict[str, team_pb2.AgentStepKind] = {
    StepKind.ROUTING: team_pb2.AGENT_STEP_KIND_ROUTING,
    StepKind.WORK: team_pb2.AGENT_STEP_KIND_WORK,
}
_SOURCES: dict[str, team_pb2.DecisionSource] = {
    DecisionSource.MODEL: team_pb2.DECISION_SOURCE_MODEL,
    DecisionSource.KEYWORD_FALLBACK: team_pb2.DECISION_SOURCE_KEYWORD_FALLBACK,
    DecisionSource.STEP_LIMIT: team_pb2.DECISION_SOURCE_STEP_LIMIT,
    DecisionSource.LOOP_GUARD: team_pb2.DECISION_SOURCE_LOOP_GUARD,
}


def duration_ms(milliseconds: int) -> duration_pb2.Duration:
    """A Duration from milliseconds."""
    value = duration_pb2.Duration()
    value.FromMilliseconds(int(milliseconds))
    return value


def artifact_kind(kind: str) -> team_pb2.ArtifactKind:
    """ArtifactKind value of a lower-case kind name (``research_brief``); UNSPECIFIED when unknown."""
    try:
        return cast(team_pb2.ArtifactKind, team_pb2.ArtifactKind.Value(f"ARTIFACT_KIND_{kind.upper()}"))
    except ValueError:
        return team_pb2.ARTIFACT_KIND_UNSPECIFIED


def artifact_kind_name(kind: int) -> str:
    """Lower-case kind name of an ArtifactKind value (``unspecified`` for unknown values)."""
    try:
        return team_pb2.ArtifactKind.Name(kind).removeprefix("ARTIFACT_KIND_").lower()
    except ValueError:
        return "unspecified"


def decision_source(source: str) -> team_pb2.DecisionSource:
    """DecisionSource value of a routing source (a ``DecisionSource``, or "" for none)."""
    return _SOURCES.get(source, team_pb2.DECISION_SOURCE_UNSPECIFIED)


def artifact_to_proto(artifact: ArtifactData, with_data: bool = True) -> team_pb2.Artifact:
    """Artifact record to protobuf (without its binary data when ``with_data`` is false)."""
    return team_pb2.Artifact(
        id=artifact["id"],
        team=artifact["team"],
        agent=artifact["agent"],
        kind=artifact_kind(artifact["kind"]),
        title=artifact["title"],
        content=artifact["content"],
        mime_type=artifact["mime_type"],
        metadata=artifact["metadata"],
        data=artifact.get("data", b"") if with_data else b"",
    )


def artifact_from_proto(artifact: team_pb2.Artifact) -> ArtifactData:
    """Protobuf artifact to record."""
    record = ArtifactData(
        id=artifact.id,
        team=artifact.team,
        agent=artifact.agent,
        kind=artifact_kind_name(artifact.kind),
        title=artifact.title,
        content=artifact.content,
        mime_type=artifact.mime_type or "text/markdown",
        metadata=dict(artifact.metadata),
    )
    if artifact.data:
        record["data"] = artifact.data
    return record


def tool_info_to_proto(team: str, tool: ToolInfo) -> team_pb2.Tool:
    """A registry entry to protobuf."""
    return team_pb2.Tool(
        name=tool.name,
        description=tool.description,
        input_schema_json=tool.input_schema_json,
        service=tool.service,
        configured=tool.configured,
        status=tool.status,
        agents=list(tool.agents),
        team=team,
    )


def usage_to_proto(usage: Mapping[str, Any] | None) -> team_pb2.Usage:
    """Usage record (``UsageTotals.to_dict`` shape) to protobuf."""
    if not usage:
        return team_pb2.Usage()
    return team_pb2.Usage(
        model_calls=usage["model_calls"],
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        cost_usd=usage["cost_usd"],
        models=[
            team_pb2.ModelUsage(
                model=m["model"],
                calls=m["calls"],
                input_tokens=m["input_tokens"],
                output_tokens=m["output_tokens"],
                cost_usd=m["cost_usd"],
                latency=duration_ms(m["latency_ms"]),
                priced=m["priced"],
                cache_read_tokens=m.get("cache_read_tokens", 0),
                cache_write_tokens=m.get("cache_write_tokens", 0),
            )
            for m in usage["models"]
        ],
    )


def usage_from_proto(usage: team_pb2.Usage) -> dict[str, Any]:
    """Protobuf usage to record."""
    return {
        "model_calls": usage.model_calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": usage.cost_usd,
        "models": [
            {
                "model": m.model,
                "calls": m.calls,
                "input_tokens": m.input_tokens,
                "output_tokens": m.output_tokens,
                "cost_usd": m.cost_usd,
                "latency_ms": m.latency.ToMilliseconds(),
                "priced": m.priced,
                "cache_read_tokens": m.cache_read_tokens,
                "cache_write_tokens": m.cache_write_tokens,
            }
            for m in usage.models
        ],
    }


def step_to_proto(step: StepData, usage: Mapping[str, Any] | None = None) -> team_pb2.AgentStep:
    """Step record (and the usage of its model calls) to protobuf."""
    return team_pb2.AgentStep(
        index=step["index"],
        team=step["team"],
        agent=step["agent"],
        kind=_STEP_KINDS.get(step["kind"], team_pb2.AGENT_STEP_KIND_UNSPECIFIED),
        next=step["next"],
        reasoning=step["reasoning"],
        decision_source=decision_source(step["decision_source"]),
        summary=step["summary"],
        artifact_ids=step["artifact_ids"],
        error=step["error"],
        duration=duration_ms(step["duration_ms"]),
        usage=usage_to_proto(usage),
    )


def profile_to_data(profile: Message) -> dict[str, Any]:
    """A ``TenantProfile`` as plain data: proto field names, every scalar and repeated field present (unset
    messages such as ``brand`` left out), enum values by name."""
    return json_format.MessageToDict(
        profile, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def brief_from_proto(brief: team_pb2.Brief) -> BriefData:
    """Protobuf brief to record (with the tenant and its profile as plain data)."""
    return BriefData(
        workflow_id=brief.workflow_id,
        task=brief.task,
        instructions=brief.instructions,
        upstream=[artifact_from_proto(a) for a in brief.upstream_artifacts],
        tenant_id=brief.tenant_id,
        profile=profile_to_data(brief.profile),
    )


def step_from_proto(step: team_pb2.AgentStep) -> StepData:
    """Protobuf step to record."""
    kinds = {v: k for k, v in _STEP_KINDS.items()}
    sources = {v: k for k, v in _SOURCES.items()}
    return StepData(
        index=step.index,
        team=step.team,
        agent=step.agent,
        kind=kinds.get(step.kind, ""),
        next=step.next,
        reasoning=step.reasoning,
        decision_source=sources.get(step.decision_source, ""),
        summary=step.summary,
        artifact_ids=list(step.artifact_ids),
        error=step.error,
        duration_ms=step.duration.ToMilliseconds(),
        usage=usage_from_proto(step.usage),
    )
