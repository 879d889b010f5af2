"""The uniform ``marketing.team.v1.TeamService`` servicer, shared by the three team services."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import structlog
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.agents.convert import (
    artifact_to_proto,
    brief_from_proto,
    duration_ms,
    step_to_proto,
    tool_info_to_proto,
    usage_to_proto,
)
from common.agents.team_graph import TeamDefinition, TeamState, initial_state
from common.config import Settings
from common.errors import FieldViolation
from common.llm.answers import WITHDRAWN, text_of
from common.llm.usage import PriceTable, UsageLedger
from common.logging import get_logger
from common.metrics import ARTIFACTS, BRIEFS_IN_FLIGHT
from common.storage import Store
from common.telemetry import ModelCallSpans
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
    problems += check_text("idempotency_key", request.idempotency_key, max_chars=256, required=False)
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

    def __init__(
        self,
        team: TeamDefinition,
        graph: CompiledStateGraph[Any],
        settings: Settings,
        store: Store | None = None,
        durable_graph: CompiledStateGraph[Any] | None = None,
    ) -> None:
        """
        Args:
            team: The team's definition (name, tools, how it cancels its side effects).
            graph: The compiled subgraph, for calls without an idempotency key.
            settings: Process settings.
            store: Where completed results are kept by idempotency key.
            durable_graph: The same subgraph with a checkpointer, for calls with a key.
        """
        self.definition = team
        self.team = team.name
        self.graph = graph
        self.store = store
        self.durable_graph = durable_graph
        self.tools = team.tools
        self.prices = PriceTable(settings.llm_prices)
        self.recursion_limit = settings.team_max_steps * 2 + 4
        self.worker_names = {name for name in graph.nodes if name not in ("team_lead", "__start__")}

    async def ListTools(
        self, request: team_pb2.ListToolsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.ListToolsResponse:
        tools = self.tools.describe() if self.tools is not None else []
        return team_pb2.ListToolsResponse(tools=[tool_info_to_proto(self.team, t) for t in tools])

    async def CancelWorkflow(
        self, request: team_pb2.CancelWorkflowRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.CancelWorkflowResponse:
        raise_if_invalid(check_text("workflow_id", request.workflow_id, max_chars=128))
        response = team_pb2.CancelWorkflowResponse(team=self.team)
        if self.definition.cancel_workflow is not None:
            effects = await self.definition.cancel_workflow(request.workflow_id)
            response.cancelled_effects.extend(team_pb2.CancelledEffect(kind=e.kind, id=e.id) for e in effects)
            if effects:
                log.info("workflow_effects_cancelled", workflow_id=request.workflow_id, effects=len(effects))
        return response

    def _result(self, state: TeamState, started: float, ledger: UsageLedger) -> team_pb2.BriefResult:
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
            steps=[step_to_proto(s, ledger.totals(step=s["index"]).to_dict()) for s in steps],
            summary=summary,
            duration=duration_ms(int((time.monotonic() - started) * 1000)),
            usage=usage_to_proto(ledger.totals().to_dict()),
        )

    async def _events(
        self, brief: team_pb2.Brief, stream_text: bool, idempotency_key: str = ""
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        """Run the subgraph on a brief; yield steps, artifacts (and text deltas when asked), then the result.

        With an idempotency key, a completed key replays its stored result and an interrupted one resumes from
        its last checkpoint.
        """
        structlog.contextvars.bind_contextvars(workflow_id=brief.workflow_id, team=self.team)
        store = self.store if idempotency_key and self.durable_graph is not None else None
        if store is not None and (stored := await store.get_team_result(idempotency_key)) is not None:
            result = team_pb2.BriefResult.FromString(stored)
            result.replayed = True
            log.info("team_result_replayed", idempotency_key=idempotency_key)
            yield team_pb2.StreamBriefResponse(result=result)
            return
        graph = self.durable_graph if store is not None and self.durable_graph is not None else self.graph
        started = time.monotonic()
        ledger = UsageLedger(self.prices, self.team)
        config: RunnableConfig = {
            "recursion_limit": self.recursion_limit,
            "callbacks": [ledger, ModelCallSpans()],
        }
        graph_input: Any = initial_state(brief_from_proto(brief))
        if store is not None:
            config["configurable"] = {"thread_id": idempotency_key}
            if (await graph.aget_state(config)).next:
                graph_input = None  # an interrupted run: continue from its last checkpoint
                log.info("team_run_resumed", idempotency_key=idempotency_key)
        modes: list[StreamMode] = ["custom", "values", "messages"] if stream_text else ["custom", "values"]
        final: TeamState = {}
        BRIEFS_IN_FLIGHT.labels(team=self.team).inc()
        try:
            chunk: Any
            async for mode, chunk in graph.astream(graph_input, config, stream_mode=modes):
                if mode == "values":
                    final = chunk
                elif mode == "messages":
                    if (delta := self._text_delta(*chunk)) is not None:
                        yield team_pb2.StreamBriefResponse(text_delta=delta)
                elif WITHDRAWN in chunk:
                    if stream_text and (withdrawn := self._text_withdrawn(chunk[WITHDRAWN])) is not None:
                        yield team_pb2.StreamBriefResponse(text_withdrawn=withdrawn)
                elif "step" in chunk:
                    usage = ledger.totals(step=chunk["step"]["index"]).to_dict()
                    yield team_pb2.StreamBriefResponse(step=step_to_proto(chunk["step"], usage))
                elif "artifact" in chunk:
                    ARTIFACTS.labels(team=self.team, kind=chunk["artifact"]["kind"]).inc()
                    yield team_pb2.StreamBriefResponse(artifact=artifact_to_proto(chunk["artifact"]))
        finally:
            BRIEFS_IN_FLIGHT.labels(team=self.team).dec()
        result = self._result(final, started, ledger)
        if store is not None:
            await store.put_team_result(idempotency_key, self.team, result.SerializeToString())
        yield team_pb2.StreamBriefResponse(result=result)

    async def RunBrief(
        self, request: team_pb2.RunBriefRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> team_pb2.RunBriefResponse:
        validate_brief(request)
        result = team_pb2.BriefResult()
        async for event in self._events(request.brief, False, request.idempotency_key):
            if event.HasField("result"):
                result = event.result
        return team_pb2.RunBriefResponse(result=result)

    async def StreamBrief(
        self, request: team_pb2.StreamBriefRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        validate_brief(request)
        async for event in self._events(request.brief, request.stream_text, request.idempotency_key):
            yield event

    def _text_delta(self, message: Any, metadata: dict[str, Any]) -> team_pb2.TextDelta | None:
        """A worker's generated text; routing output and tool-call chunks are not text for the caller."""
        agent = metadata.get("langgraph_node")
        if agent not in self.worker_names or not isinstance(message, AIMessageChunk):
            return None
        if not (text := text_of(message)):
            return None
        return team_pb2.TextDelta(team=self.team, agent=agent, text=text)

    def _text_withdrawn(self, withdrawn: dict[str, Any]) -> team_pb2.TextWithdrawn | None:
        """A failed model call's streamed text, void (``common.llm.answers``); only workers' text streams."""
        if withdrawn["agent"] not in self.worker_names:
            return None
        return team_pb2.TextWithdrawn(
            team=self.team, agent=withdrawn["agent"], reason=withdrawn["reason"], chars=withdrawn["chars"]
        )
