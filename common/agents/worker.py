"""A worker agent: a chat model with tools, run in a bounded tool-calling loop, whose output becomes artifacts.

The tenant's profile (``WorkScope.profile``) shapes each run: only the tools the tenant enabled are offered to the
model, and the tenant's ``models.worker_model`` replaces the deployment's ``LLM_MODEL``. Models are built once per
model name (``ChatModels``) and bound once per distinct tool set.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool

from common.agents.profile import allowed_tools, model_choices
from common.agents.scope import WorkScope, work_scope
from common.config import LlmProvider, Settings
from common.llm.factory import ModelRole, build_chat_model
from common.llm.offline import OFFLINE_MODEL_NAME, OfflineBehaviour, OfflineChatModel
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
    stalled: str = ""  # the stall guard's warning when the model repeated a tool call (else "")

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


class ChatModels:
    """The chat models of one role, by model name: the deployment's default (``LLM_MODEL``, or
    ``LLM_ROUTER_MODEL`` for routers) and one per model a tenant chose (``TenantProfile.models``).

    Each is built once, through ``build_chat_model`` with the model name replaced, and kept (the least recently
    used is dropped beyond ``max_models``). A real provider's requests then name the tenant's model; the offline
    model records ``offline:<name>`` as its model name (still free of charge in the price table).
    """

    def __init__(
        self,
        settings: Settings,
        role: ModelRole,
        offline_behaviour: OfflineBehaviour,
        default: Any = None,
        max_models: int = 32,
    ) -> None:
        """
        Args:
            settings: Process settings (provider, default models, backup).
            role: Router or worker.
            offline_behaviour: What the offline model does in this role.
            default: The deployment's model when the caller built it already (else built here).
            max_models: How many tenant models are kept built.
        """
        self.settings = settings
        self.role = role
        self.offline_behaviour = offline_behaviour
        self.max_models = max_models
        self._default = (
            default if default is not None else build_chat_model(settings, role, offline_behaviour)
        )
        self._chosen: OrderedDict[str, Any] = OrderedDict()

    @property
    def default_name(self) -> str:
        """The deployment's model name for this role."""
        router = self.role is ModelRole.ROUTER
        return (self.settings.llm_router_model if router else None) or self.settings.llm_model

    def default(self) -> Any:
        """The deployment's model."""
        return self._default

    def get(self, name: str = "") -> Any:
        """The model of that name ("" or the deployment's own name: the default model)."""
        if not name or name == self.default_name:
            return self._default
        if name in self._chosen:
            self._chosen.move_to_end(name)
            return self._chosen[name]
        model = self._build(name)
        self._chosen[name] = model
        if len(self._chosen) > self.max_models:
            self._chosen.popitem(last=False)
        return model

    def _build(self, name: str) -> Any:
        key = "llm_router_model" if self.role is ModelRole.ROUTER else "llm_model"
        model = build_chat_model(
            self.settings.model_copy(update={key: name}), self.role, self.offline_behaviour
        )
        if self.settings.llm_provider is LlmProvider.OFFLINE and isinstance(model, OfflineChatModel):
            model = model.model_copy(update={"model_name": f"{OFFLINE_MODEL_NAME}:{name}"})
        log.info("tenant_model_built", role=self.role.value, model=name)
        return model


@dataclass(frozen=True)
class ScopedModel:
    """A worker's model for one run: bound to the tools the tenant enabled, for the tool-calling rounds and for the
    final answer."""

    with_tools: Any
    final: Any
    tools: tuple[BaseTool, ...]


MAX_BINDINGS = 64
"""Distinct (model, tool set) bindings a worker keeps."""


@dataclass(frozen=True)
class BoundWorkerModel:
    """A worker's model bound to its tools: once for the whole tool set, and once more for each other (model, tool
    set) a tenant's profile selects.

    Attributes:
        with_tools: The default model bound to every tool of the worker, for the tool-calling rounds.
        final: The same, with ``tool_choice="none"``, for the final answer.
        tools: The worker's tools.
        base: The default model, unbound (rebound when a tenant enables fewer tools).
        models: The models by name (None: tenants' model choices are not honoured).
    """

    with_tools: Any
    final: Any
    tools: tuple[BaseTool, ...] = ()
    base: Any = None
    models: ChatModels | None = None
    _bindings: OrderedDict[tuple[str, tuple[str, ...]], ScopedModel] = field(
        default_factory=OrderedDict, compare=False, repr=False
    )

    @classmethod
    def bind(cls, worker: Worker, model: Any, models: ChatModels | None = None) -> BoundWorkerModel:
        """Bind the worker's tools (no binding for a worker without tools)."""
        with_tools, final = _bound(model, worker.tools)
        return cls(with_tools, final, worker.tools, model, models)

    @classmethod
    def build(cls, worker: Worker, settings: Settings) -> BoundWorkerModel:
        """The worker's model from the factory, bound to its tools, honouring tenants' model choices."""
        models = ChatModels(settings, ModelRole.WORKER, worker.offline)
        return cls.bind(worker, models.default(), models)

    def for_scope(self, scope: WorkScope) -> ScopedModel:
        """The model for a run: the tenant's worker model (when it chose one) bound to the tools it enabled."""
        tools = allowed_tools(scope.profile, self.tools)
        name = model_choices(scope.profile).worker_model if self.models is not None else ""
        if self.models is not None and name == self.models.default_name:
            name = ""
        if not name and len(tools) == len(self.tools):
            return ScopedModel(self.with_tools, self.final, self.tools)
        key = (name, tuple(t.name for t in tools))
        if (scoped := self._bindings.get(key)) is None:
            base = self.models.get(name) if self.models is not None and name else self.base
            if base is None:  # built without its unbound model: offer no tool rather than a disabled one
                scoped = ScopedModel(self.final, self.final, ())
            else:
                scoped = ScopedModel(*_bound(base, tools), tools)
            self._bindings[key] = scoped
            if len(self._bindings) > MAX_BINDINGS:
                self._bindings.popitem(last=False)
        return scoped


def _bound(model: Any, tools: Sequence[BaseTool]) -> tuple[Any, Any]:
    """(model for the tool-calling rounds, model for the final answer); the model itself without tools."""
    if not tools:
        return model, model
    return model.bind_tools(list(tools)), model.bind_tools(list(tools), tool_choice="none")


async def run_worker(
    worker: Worker, model: BoundWorkerModel, brief_text: str, scope: WorkScope, max_tool_rounds: int
) -> WorkerOutput:
    """Run one worker on a brief.

    The model may call tools for up to ``max_tool_rounds`` rounds; tool errors go back to the model as tool
    messages so it can correct itself. The final answer is requested without tools. While it runs, the scope
    (task, workflow id, artifacts, tenant profile) is visible to tools (``find_artifact``, ``current_workflow_id``)
    and to the offline model. Only the tools the tenant's profile enables are offered (and callable), on the model
    the profile chooses.
    """
    with work_scope(scope):
        return await _run(worker, model.for_scope(scope), brief_text, max_tool_rounds)


async def _run(worker: Worker, model: ScopedModel, brief_text: str, max_tool_rounds: int) -> WorkerOutput:
    messages: list[BaseMessage] = [SystemMessage(worker.instructions), HumanMessage(brief_text)]
    by_name = {tool.name: tool for tool in model.tools}
    results: list[ToolResult] = []
    with_tools = model.with_tools
    answer: AIMessage | None = None
    seen: set[str] = set()
    stalled = ""
    for _ in range(max_tool_rounds):
        answer = await with_tools.ainvoke(messages)
        messages.append(answer)
        if not answer.tool_calls:
            break
        if stalled := _repeated_call(answer.tool_calls, seen):
            log.warning("worker_stalled", worker=worker.name, repeated=stalled)
            messages.pop()  # the repeated call is not made; the model is asked for its answer instead
            answer = await model.final.ainvoke(messages)
            break
        for call in answer.tool_calls:
            result = await _call_tool(by_name.get(call["name"]), call["name"], call["args"])
            results.append(result)
            content = for_model(result.value) if not result.error else f"error: {result.error}"
            messages.append(ToolMessage(content, tool_call_id=call["id"] or call["name"], name=call["name"]))
    else:
        answer = await model.final.ainvoke(messages)
    assert answer is not None
    stall_warning = (
        f"{STALL_MARK}: the model repeated the tool call {stalled}; stopped its tool use" if stalled else ""
    )
    text = answer.content if isinstance(answer.content, str) else _text_of(answer.content)
    model_name = str(
        answer.response_metadata.get("model_name") or answer.response_metadata.get("model") or ""
    )
    return WorkerOutput(
        text=text.strip(), tool_results=tuple(results), model_name=model_name, stalled=stall_warning
    )


STALL_MARK = "stall guard"


def _repeated_call(calls: Sequence[Any], seen: set[str]) -> str:
    """The first of these tool calls made before with the same arguments ("" when none), remembering the others."""
    for call in calls:
        signature = f"{call['name']}({json.dumps(call['args'], sort_keys=True, default=str)})"
        if signature in seen:
            return clip(signature, 200)
        seen.add(signature)
    return ""


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
