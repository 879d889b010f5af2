"""The uniform ``marketing.team.v1.TeamService`` servicer, shared by the three team services."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from langgraph.graph.state import CompiledStateGraph
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.agents.convert import artifact_to_proto, brief_from_proto, duration_ms, step_to_proto
from common.agents.team_graph import TeamState, initial_state
from common.config import Settings
from common.errors import FieldViolation
from common.logging import get_logger
from common.validation import MAX_TASK_CHARS, check_text, raise_if_invalid

log = get_logger(__name__)

MAX_UPSTREAM_ARTIFACTS = 100
MAX_ARTIFACT_CONTENT_CHARS = 500_000


def validate_brief(request: team_pb2.RunBriefRequest | team_pb2.StreamBriefRequest) -> None:
    """Reject a brief that no team could work on, naming every bad field."""
    if not request.HasField("brief"):
        raise_if_invalid([FieldViolation("brief", "is required")])
    brief = request.brief
    problems = check_text("brief.task", brief.task, max_chars=MAX_TASK_CHARS)
    problems += check_text("brief.workflow_id", brief.workflow_id, max_chars=128, required=False)
    problems += check_text("brief.instructions", brief.instructions, max_chars=MAX_TASK_CHARS, required=False)
    if len(brief.upstream_artifacts) > MAX_UPSTREAM_ARTIFACTS:
        problems.append(
            FieldViolation("brief.upstream_artifacts", f"at most {MAX_UPSTREAM_ARTIFACTS} artifacts")
        )
    for index, artifact in enumerate(brief.upstream_artifacts):
        if len(artifact.content) > MAX_ARTIFACT_CONTENT_CHARS:
            problems.append(
                FieldViolation(
                    f"brief.upstream_artifacts[{index}].content",
                    f"at most {MAX_ARTIFACT_CONTENT_CHARS} characters",
                )
            )
    raise_if_invalid(problems)


class TeamServicer(team_pb2_grpc.TeamServiceServicer):
    """Runs briefs through a team's compiled subgraph."""

    def __init__(self, team: str, graph: CompiledStateGraph, settings: Settings) -> None:
        self.team = team
        self.graph = graph
        self.config: dict[str, Any] = {"recursion_limit": settings.team_max_steps * 2 + 4}

    def _result(self, state: TeamState, started: float) -> team_pb2.BriefResult:
        artifacts = state.get("artifacts", [])
        steps = state.get("steps", [])
        failed = [s for s in steps if s["error"]]
        summary = f"{self.team} team produced {len(artifacts)} artifact(s)"
        if artifacts:
            summary += ": " + "; ".join(a["title"] for a in artifacts)
        if failed:
            summary += f". {len(failed)} worker step(s) failed: " + "; ".join(f"{s['agent']}" for s in failed)
        return team_pb2.BriefResult(
            team=self.team,
            artifacts=[artifact_to_proto(a) for a in artifacts],
            steps=[step_to_proto(s) for s in steps],
            summary=summary,
            duration=duration_ms(int((time.monotonic() - started) * 1000)),
        )

    async def RunBrief(
        self, request: team_pb2.RunBriefRequest, context: grpc.aio.ServicerContext
    ) -> team_pb2.RunBriefResponse:
        validate_brief(request)
        started = time.monotonic()
        state = await self.graph.ainvoke(initial_state(brief_from_proto(request.brief)), self.config)
        return team_pb2.RunBriefResponse(result=self._result(state, started))

    async def StreamBrief(
        self, request: team_pb2.StreamBriefRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        validate_brief(request)
        started = time.monotonic()
        final: TeamState = {}
        async for mode, chunk in self.graph.astream(
            initial_state(brief_from_proto(request.brief)), self.config, stream_mode=["custom", "values"]
        ):
            if mode == "values":
                final = chunk
            elif "step" in chunk:
                yield team_pb2.StreamBriefResponse(step=step_to_proto(chunk["step"]))
            elif "artifact" in chunk:
                yield team_pb2.StreamBriefResponse(artifact=artifact_to_proto(chunk["artifact"]))
        yield team_pb2.StreamBriefResponse(result=self._result(final, started))
