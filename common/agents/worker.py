"""A worker agent: a chat model with tools, run in a bounded tool-calling loop, whose output becomes artifacts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool

from common.agents.scope import WorkScope, work_scope
from common.llm.offline import OfflineBehaviour
from common.logging import get_logger
from common.metrics import TOOL_CALLS, TOOL_SECONDS
from common.telemetry import mark_error, tracer
from common.text import clip

log = get_logger(__name__)


@dataclass(frozen=True)
class ToolResult:
    """One tool call and what it returned (or the error it raised)."""

    name: str
    args: dict[str, Any]
    value: Any
    error: str = ""


@dataclass(frozen=True)
class WorkerOutput:
    """What a worker's run produced: the model's final text and every tool result."""

    text: str
    tool_results: tuple[ToolResult, ...]
    model_name: str

    def results_of(self, tool_name: str) -> list[Any]:
        """Successful results of one tool, in call order."""
        return [r.value for r in self.tool_results if r.name == tool_name and not r.error]


@dataclass(frozen=True)
class ArtifactDraft:
    """An artifact before the team numbers it."""

    kind: str
    title: str
    content: str
    mime_type: str = "text/markdown"
    metadata: Mapping[str, str] = field(default_factory=dict)
    data: bytes = b""


@dataclass(frozen=True)
class Worker:
    """A worker agent of a team.

    Attributes:
        name: Node name, unique in its team.
        description: What it does; the team lead's model sees it.
        instructions: The worker's system prompt.
        tools: Tools bound to its model.
        offline: What the offline model does for this worker.
        build_artifacts: Turns the run's output into artifacts.
        keywords: Task words that make keyword routing pick it; empty means always.
    """

    name: str
    description: str
    instructions: str
    tools: tuple[BaseTool, ...]
    offline: OfflineBehaviour
    build_artifacts: Callable[[WorkerOutput], list[ArtifactDraft]]
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoundWorkerModel:
    """A worker's model bound to its tools once: for the tool-calling rounds, and for the final answer."""

    with_tools: Any
    final: Any

    @classmethod
    def bind(cls, worker: Worker, model: Any) -> BoundWorkerModel:
        """Bind the worker's tools (no binding for a worker without tools)."""
        if not worker.tools:
            return cls(model, model)
        tools = list(worker.tools)
        return cls(model.bind_tools(tools), model.bind_tools(tools, tool_choice="none"))


async def run_worker(
    worker: Worker, model: BoundWorkerModel, brief_text: str, scope: WorkScope, max_tool_rounds: int
) -> WorkerOutput:
    """Run one worker on a brief.

    The model may call tools for up to ``max_tool_rounds`` rounds; tool errors go back to the model as tool
    messages so it can correct itself. The final answer is requested without tools. While it runs, the scope
    (task, workflow id, artifacts) is visible to tools (``find_artifact``, ``current_workflow_id``) and to the
    offline model.
    """
    with work_scope(scope):
        return await _run(worker, model, brief_text, max_tool_rounds)


async def _run(
    worker: Worker, model: BoundWorkerModel, brief_text: str, max_tool_rounds: int
) -> WorkerOutput:
    messages: list[BaseMessage] = [SystemMessage(worker.instructions), HumanMessage(brief_text)]
    by_name = {tool.name: tool for tool in worker.tools}
    results: list[ToolResult] = []
    with_tools = model.with_tools
    answer: AIMessage | None = None
    for _ in range(max_tool_rounds):
        answer = await with_tools.ainvoke(messages)
        messages.append(answer)
        if not answer.tool_calls:
            break
        for call in answer.tool_calls:
            result = await _call_tool(by_name.get(call["name"]), call["name"], call["args"])
            results.append(result)
            content = for_model(result.value) if not result.error else f"error: {result.error}"
            messages.append(ToolMessage(content, tool_call_id=call["id"] or call["name"], name=call["name"]))
    else:
        answer = await model.final.ainvoke(messages)
    assert answer is not None
    text = answer.content if isinstance(answer.content, str) else _text_of(answer.content)
    model_name = str(
        answer.response_metadata.get("model_name") or answer.response_metadata.get("model") or ""
    )
    return WorkerOutput(text=text.strip(), tool_results=tuple(results), model_name=model_name)


async def _call_tool(tool: BaseTool | None, name: str, args: dict[str, Any]) -> ToolResult:
    attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    with tracer().start_as_current_span(f"execute_tool {name}", attributes=attributes) as span:
        if tool is None:
            mark_error(span, f"there is no tool named {name!r}")
            TOOL_CALLS.labels(
                tool="unknown", outcome="error"
            ).inc()  # the model's made-up name is not a label
            return ToolResult(name, args, None, f"there is no tool named {name!r}")
        started = time.monotonic()
        try:
            result = ToolResult(name, args, await tool.ainvoke(args))
        except Exception as exc:  # the model gets the error and may retry with other arguments
            log.info("tool_failed", tool=name, error=clip(str(exc), 300))
            mark_error(span, exc)
            result = ToolResult(name, args, None, clip(f"{type(exc).__name__}: {exc}", 500))
        TOOL_SECONDS.labels(tool=name).observe(time.monotonic() - started)
        TOOL_CALLS.labels(tool=name, outcome="error" if result.error else "ok").inc()
        return result


def for_model(value: Any) -> str:
    """A tool result as the model sees it: JSON, with binary payloads (keys ending in ``_b64``) left out."""
    return json.dumps(_without_binary(value), default=str)


def _without_binary(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                f"<{len(v) * 3 // 4} bytes, not shown>"
                if k.endswith("_b64") and isinstance(v, str)
                else _without_binary(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_binary(v) for v in value]
    return value


def _text_of(blocks: Sequence[Any]) -> str:
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in blocks)
